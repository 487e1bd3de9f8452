"""Webhooks only reach public internet addresses (server-side request forgery): a private or local address
is refused when the webhook is saved and, for a name that resolves to one, at delivery; the connection
goes to the address that was checked; WEBHOOK_ALLOWED_NETWORKS lets the operator allow a network."""

import ipaddress
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from webhooks import addresses, services
from webhooks.models import WebhookSubscription

pytestmark = pytest.mark.usefixtures("forget_the_active_flag")

PRIVATE_URLS = [
    "http://127.0.0.1:8000/hook",
    "http://127.1.2.3/",
    "http://0.0.0.0/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
    "http://224.0.0.1/",  # multicast
    "http://[::1]:6379/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "http://localhost:5432/",
    "http://LocalHost/",
    "http://api.localhost/",
]
PUBLIC_URLS = ["https://hooks.example.com/helpdesk", "http://93.184.215.14/hook", "https://[2606:4700::1111]/"]


@pytest.fixture
def no_private_networks(settings, forget_the_active_flag):  # after it: it allows loopback for the receivers
    settings.WEBHOOK_ALLOWED_NETWORKS = []


def save(url, actor, **fields):
    subscription = WebhookSubscription(url=url, events=["ticket.created"], **fields)
    return services.webhook_subscription_save(subscription=subscription, actor=actor)


@pytest.mark.usefixtures("no_private_networks")
@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_a_private_or_local_address_is_refused_when_saved(url, admin_user):
    with pytest.raises(ValidationError) as refused:
        save(url, admin_user)
    message = refused.value.message_dict["url"][0]
    assert "private or local address" in message and "WEBHOOK_ALLOWED_NETWORKS" in message
    assert not WebhookSubscription.objects.exists()


@pytest.mark.usefixtures("no_private_networks")
@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_a_public_address_or_a_name_is_saved(url, admin_user):
    assert save(url, admin_user).pk


def test_an_allowed_network_may_be_reached_and_only_it(settings, admin_user):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.0.5.0/24", "fd00:1::/32"]
    assert save("http://10.0.5.7/hook", admin_user).pk
    assert save("http://[fd00:1::7]/hook", admin_user).pk
    assert save("http://[::ffff:10.0.5.8]/hook", admin_user).pk
    for url in ("http://10.0.6.1/hook", "http://[fd00:2::1]/", "http://localhost/"):
        with pytest.raises(ValidationError):
            save(url, admin_user)


@pytest.mark.usefixtures("no_private_networks")
def test_the_admin_form_says_why_the_address_is_refused(as_role):
    response = as_role("admin_user").post(
        reverse("admin:webhooks_webhooksubscription_add"),
        {"url": "http://169.254.169.254/latest/", "events": ["ticket.created"], "is_active": "on"},
    )
    assert response.status_code == 200
    assert "is a private or local address (169.254.169.254)" in response.content.decode()
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    ("address", "allowed"),
    [("8.8.8.8", True), ("2606:4700::1111", True), ("::ffff:8.8.8.8", True), ("::ffff:10.0.0.1", False),
     ("64:ff9b::808:808", True), ("64:ff9b::7f00:1", False), ("ff02::1", False), ("192.0.2.1", False)],
)  # fmt: skip
@pytest.mark.usefixtures("no_private_networks")
def test_addresses_that_carry_another_address_are_judged_by_it(address, allowed):
    assert addresses.is_allowed(ipaddress.ip_address(address)) is allowed


class FakeDNS:
    """getaddrinfo that answers ``answers`` for ``name`` (each call takes the next), the real one otherwise."""

    def __init__(self, name, *answers):
        self.name, self.answers, self.asked = name, list(answers), 0
        self.real = socket.getaddrinfo

    def __call__(self, host, port, *args, **kwargs):
        if host != self.name:
            return self.real(host, port, *args, **kwargs)
        self.asked += 1
        if not self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (self.answers.pop(0), port))]


def deliver(webhook, make_ticket):
    make_ticket()
    services.webhooks_dispatch()
    return services.webhook_delivery_attempt(delivery_id=webhook.deliveries.get().pk)


@pytest.mark.usefixtures("no_private_networks")
def test_a_name_that_resolves_to_a_private_address_is_refused_at_delivery(receiver, admin_user, make_ticket,
                                                                          monkeypatch):  # fmt: skip
    """Saved while the name was public; now it resolves to this machine (DNS rebinding): nothing is sent."""
    port = receiver.server.server_address[1]
    webhook = save(f"http://hooks.example.com:{port}/hook", admin_user)
    monkeypatch.setattr(socket, "getaddrinfo", FakeDNS("hooks.example.com", "127.0.0.1"))
    delivery = deliver(webhook, make_ticket)
    assert receiver.requests == []
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert delivery.last_error.startswith("hooks.example.com is a private or local address (127.0.0.1)")
    assert delivery.attempts.get().error == delivery.last_error


def test_the_connection_goes_to_the_address_that_was_checked(receiver, admin_user, make_ticket, monkeypatch):
    """The name is resolved once: a second lookup would fail here, and the request still arrives."""
    port = receiver.server.server_address[1]
    webhook = save(f"http://hooks.example.com:{port}/hook", admin_user)  # 127.0.0.0/8 allowed (the fixture)
    dns = FakeDNS("hooks.example.com", "127.0.0.1")
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    delivery = deliver(webhook, make_ticket)
    assert (delivery.status, delivery.last_status_code, dns.asked) == ("succeeded", 200, 1)
    assert receiver.requests[0].headers["Host"] == f"hooks.example.com:{port}"


def test_a_wrong_network_in_the_settings_stops_the_start():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
        "DEBUG": "1",
        "WEBHOOK_ALLOWED_NETWORKS": "10.0.5.0/24,10.0.0.0/33",
    }
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parent.parent, timeout=60)  # fmt: skip
    assert result.returncode != 0
    assert "ImproperlyConfigured: WEBHOOK_ALLOWED_NETWORKS: '10.0.0.0/33' does not appear" in result.stderr
