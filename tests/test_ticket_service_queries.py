"""Exact query counts of the core services: a change to a count is explained in its commit."""

from tickets import services


def test_ticket_create_queries(queue, customer, django_assert_num_queries, django_capture_on_commit_callbacks):
    # savepoint, routing rules (none), the team's assignment strategy, insert ticket (with the first message's
    # counters and search vector), report facts marked stale, message, both events in one insert, the SLA
    # policies (none), release
    with django_capture_on_commit_callbacks(execute=False), django_assert_num_queries(9):
        services.ticket_create(customer=customer, queue=queue, subject="Hi", body="Hello", channel="portal")


def test_ticket_reply_queries(ticket, agent, django_assert_num_queries):
    # savepoint, lock ticket, the queue's mailbox (the Message-ID's domain), message, message event, the
    # running SLA response targets, status event, ticket update with its search vector, report facts marked
    # stale, release; the email is sent after commit
    with django_assert_num_queries(10):
        services.ticket_reply(ticket=ticket, author=agent, body="On its way")


def test_customer_message_queries(ticket, django_assert_num_queries):
    # savepoint, lock ticket, message, message event, ticket update with its search vector, report facts
    # marked stale, routing rules for customer messages (none), release
    with django_assert_num_queries(8):
        services.ticket_add_customer_message(ticket=ticket, body="Thanks!", channel="email")


def test_ticket_set_status_queries(ticket, agent, django_assert_num_queries):
    # savepoint, lock ticket, status event, the running SLA targets (to stop them), ticket update, report
    # facts marked stale, release
    with django_assert_num_queries(7):
        services.ticket_set_status(ticket=ticket, status="solved", actor=agent)
