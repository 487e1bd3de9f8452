"""The customer's side of a ticket: following a request by a signed link, without an account."""
