"""The email channel: parsing inbound mail, threading it onto tickets, and sending replies."""
