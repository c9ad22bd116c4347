"""The gateway: the public API's front door (`auth/`: who may call; `edge/`: the door itself)."""
