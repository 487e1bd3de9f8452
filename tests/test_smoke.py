def test_ticket_reference_starts_at_1001(ticket):
    assert ticket.reference.startswith("HD-")
    assert ticket.pk > 1000
