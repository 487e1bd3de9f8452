"""Satisfaction surveys sent when a ticket is solved: CSAT, and NPS and CES where a queue asks for them."""
