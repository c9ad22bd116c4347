"""What more than one Clientele service needs, written once."""
