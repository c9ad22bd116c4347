"""Tests of the gateway: auth, the edge guard, routing, the gateway as a real process."""
