"""Who is calling and what they may do: users, passwords, tokens, signing keys, API keys."""
