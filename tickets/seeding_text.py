"""What the seeded people write: a café with a web shop ("Bean & Crumb").

Topics, subjects, bodies and follow-ups used by ``tickets.seeding`` for the demo and benchmark data.
"""

from dataclasses import dataclass

from .models import Ticket

OPEN, PENDING, SOLVED = str(Ticket.Status.OPEN), str(Ticket.Status.PENDING), str(Ticket.Status.SOLVED)

# Queues have a kind; each topic belongs to one kind.
QUEUE_KINDS = ("cafe", "orders", "events", "returns")
QUEUE_KIND_LABELS = {"cafe": "Café", "orders": "Web orders", "events": "Events & catering", "returns": "Returns"}


@dataclass(frozen=True)
class Topic:
    """One kind of request, in scenarios: ``openings[k]`` is the customer's first message of scenario k,
    ``subjects[k]`` the subjects that fit it, and ``answers[k]`` the agent's first answer (when there are
    as many answers as openings; otherwise any answer fits any opening)."""

    kind: str
    tag: str
    weight: int
    subjects: tuple[tuple[str, ...], ...]
    openings: tuple[str, ...]
    answers: tuple[str, ...]

    def answer(self, scenario: int, rng) -> str:
        if len(self.answers) == len(self.openings):
            return self.answers[scenario]
        return rng.choice(self.answers)


# fmt: off
TOPICS = (
    Topic("orders", "delivery", 14,
          (("Order {order} has not arrived", "Parcel still not delivered"), ("Where is my order {order}?",)),
          ("I ordered the {item} last week (order {order}) and nothing has arrived yet. The tracking page "
           "has not changed since {day}. Could you check what is going on?",
           "My order {order} was supposed to arrive on {day} but there is still no sign of it. I need the "
           "{item} for a birthday present, so I am getting a bit worried."),
          ("I am sorry your parcel is late. I have asked the courier to trace it (reference {ref}) and will "
           "update you as soon as I hear back.",
           "Thank you for your patience. The courier says the parcel is at the local depot and should be "
           "delivered within two working days.")),
    Topic("orders", "damaged", 7,
          (("Broken {item} in my parcel",), ("{item} arrived damaged",)),
          ("The {item} from order {order} arrived today, but the box was crushed and it is broken. I have "
           "attached a photo of the damage.",
           "Unfortunately the {item} was damaged in transit: the lid is cracked. What can you do?"),
          ("I am so sorry the {item} arrived broken. We will send a replacement today at no cost, and there "
           "is no need to return the damaged one.",
           "Thank you for the photo. I have issued a full refund for the {item}; it should show on your "
           "statement in 3 to 5 working days.")),
    Topic("orders", "payment", 6,
          (("Charged twice for order {order}",), ("Card payment declined at checkout",), ("Invoice for order {order}",)),
          ("I was charged twice for order {order}. Both payments show on my bank statement. Please refund "
           "the duplicate payment.",
           "My card keeps getting declined at checkout even though it works everywhere else. I tried three "
           "times with the {item} in my basket.",
           "Could you send me a VAT invoice for order {order}? I am buying for our office."),
          ("I checked with our payment provider: the second charge was only a pre-authorisation and will "
           "drop off your statement within a few days.",
           "Our payment provider had flagged the card by mistake; I have cleared the flag, so it should go "
           "through now.",
           "I have attached the invoice for order {order}. Let me know if you need another company name on it.")),
    Topic("orders", "subscription", 6,
          (("Pause my coffee subscription", "Skip next month's beans"), ("Change the grind on my subscription",)),
          ("We are going away for a month. Can I pause my coffee subscription until we are back?",
           "Could you change my subscription from whole beans to a filter grind? The {item} is lovely, by the way."),
          ("Done: your subscription is paused and will restart automatically next month.",
           "I have changed your subscription to a filter grind from the next delivery onwards.")),
    Topic("orders", "gift-card", 5,
          (("Gift card code not working",), ("Balance of my gift card",)),
          ("I received a gift card for my birthday but the code is rejected at checkout. It says the code "
           "is invalid.",
           "Could you tell me how much is left on my gift card? I used it for the {item} last month."),
          ("The gift card had not been activated by the shop that sold it. I have activated it now; please "
           "try again.",
           "Your gift card still has £{amount} on it, valid until the end of next year.")),
    Topic("orders", "website", 5,
          (("Can't log in to my account", "Password reset email never arrives"), ("Discount code {code} not accepted",)),
          ("I cannot log in to my account any more. The password reset email never arrives, not even in spam.",
           "The discount code {code} from your newsletter is not accepted at checkout. It says it has expired, "
           "but the email says it is valid until the end of the month."),
          ("I have reset your account; you should now get the password reset email within a few minutes.",
           "Sorry about that: the code was set up with the wrong end date. I have fixed it, so it works now.")),
    Topic("orders", "product", 5,
          (("Which grinder setting for the {item}?", "Question about the {item}"), ("Is the {item} decaf?",)),
          ("Which grinder setting would you recommend for the {item} with an AeroPress? Mine tastes a bit bitter.",
           "Is the {item} available as decaf? My partner loves it but cannot have caffeine after noon."),
          ("For an AeroPress, try a medium-fine grind and a water temperature of about 85 °C; it should be "
           "much less bitter.",
           "Yes, we roast a Swiss-water decaf version every two weeks; it is in the shop under Decaf.")),
    Topic("returns", "returns", 9,
          (("How do I return the {item}?", "Return request for order {order}"), ("Exchange the {item} for a bigger size",)),
          ("I would like to return the {item} from order {order}; it is unused and still in its box. How do I "
           "send it back?",
           "The {item} is too small for our family. Can I exchange it for the bigger one?"),
          ("Of course. I have emailed you a prepaid return label; once the parcel reaches us we will refund "
           "you within three working days.",
           "Happy to swap it: send the {item} back with the label I attached and we will post the bigger size "
           "as soon as it arrives.")),
    Topic("returns", "refund", 8,
          (("Refund for order {order}", "Still waiting for my refund"), ("Wrong item in order {order}",)),
          ("I returned the {item} two weeks ago but I have not received my refund yet. The parcel was "
           "delivered to you on {day}.",
           "I received {item2} instead of the {item} I ordered (order {order}). Can you send the right one?"),
          ("Your return arrived and I have processed the refund today. Banks usually take 3 to 5 working days.",
           "Sorry for the mix-up! The {item} is on its way; keep the {item2} with our compliments.")),
    Topic("cafe", "booking", 8,
          (("Table for {party} on {day}",), ("Booking a table for a birthday",)),
          ("Could we book a table for {party} people on {day} at around 11? One of us uses a wheelchair.",
           "I would like to book the big table for a birthday brunch on {day}, {party} adults and two children."),
          ("You are booked for {party} on {day} at 11:00. The table by the window has step-free access.",
           "The big table is yours on {day}. We can also bake a cake if you let us know two days before.")),
    Topic("cafe", "allergy", 6,
          (("Allergy question: nuts in the {cake}?",), ("Gluten-free options",)),
          ("Does the {cake} contain nuts or traces of nuts? My son has a severe nut allergy.",
           "Do you have gluten-free cakes or sandwiches? I have coeliac disease and would love to visit."),
          ("The {cake} is made without nuts, but our kitchen also handles almonds, so we cannot rule out traces.",
           "We always have a gluten-free brownie and a gluten-free sandwich; they are prepared separately.")),
    Topic("cafe", "lost-property", 3,
          (("Left my {lost} at the café", "Lost {lost} on {day}"),),
          ("I think I left my {lost} at the café on {day}, at the table near the counter. Has anyone handed it in?",),
          ("Good news: we have your {lost} behind the counter. You can pick it up any day between 8 and 6.",
           "I am sorry, nobody has handed in a {lost} so far. I will keep an eye out and let you know.")),
    Topic("cafe", "feedback", 5,
          (("Feedback about my visit on {day}", "Slow service on {day}"), ("Thank you for a lovely brunch",)),
          ("We visited on {day} and waited almost forty minutes for two flat whites and a {cake}. The staff "
           "were friendly but clearly overwhelmed.",
           "Just wanted to say thank you for a lovely brunch on {day}. The {cake} was the best I have had."),
          ("Thank you for telling us, and I am sorry about the wait. We were two people short that day; "
           "please let us buy you coffee next time.",
           "Thank you so much for the kind words! I have passed them on to the kitchen team.")),
    Topic("cafe", "loyalty", 3,
          (("Loyalty card stamps missing",), ("Opening hours over the holidays",)),
          ("My loyalty card should have nine stamps but the app only shows five. I have the receipts.",
           "Are you open over the holidays? We would like to come by with family on {day}."),
          ("I have added the four missing stamps to your card; your next coffee is on us.",
           "We are open every day except the 25th and the 1st, from 9 to 4.")),
    Topic("events", "catering", 7,
          (("Catering quote for {people} people", "Pastries for a conference"), ("Coffee cart for our office event",)),
          ("We are organising a team day for {people} people on {day} and would love coffee and pastries from "
           "you. Could you send a quote?",
           "Could you bring your coffee cart to our office party? About {people} guests, from 2 pm to 6 pm."),
          ("Thank you for thinking of us! For {people} people the coffee cart with two baristas and pastries "
           "comes to £{amount}; the quote is attached.",
           "We can do that. I have pencilled you in for {day}; the quote for {people} guests is attached.")),
    Topic("events", "wholesale", 4,
          (("Wholesale beans for our restaurant",), ("Weekly order of {item} for our café",)),
          ("We run a small restaurant and would like to serve your coffee. Do you offer wholesale prices "
           "for about 10 kg a week?",
           "Can we set up a standing weekly order of 5 kg of the {item}, delivered on Mondays?"),
          ("We would love to supply you. Our wholesale price list is attached; delivery is free above 5 kg.",
           "The standing order is set up: 5 kg of the {item} every Monday, invoiced monthly.")),
)
ITEMS = {
    "House Blend espresso beans": 12, "Colombian filter coffee": 10, "Ethiopian Yirgacheffe": 6,
    "oat milk barista edition": 5, "ceramic travel mug": 6, "burr grinder": 4, "moka pot": 4,
    "French press": 4, "pour-over kettle": 3, "coffee gift box": 5, "tea sampler": 3,
    "espresso machine": 2, "decaf blend": 3, "chai syrup": 2, "kombucha brewing kit": 0.05,
}
# fmt: on
CAKES = ("carrot cake", "lemon drizzle", "banana bread", "cinnamon bun", "brownie", "cheesecake", "almond croissant")
LOST = ("umbrella", "scarf", "phone charger", "reading glasses", "laptop sleeve", "notebook", "child's teddy bear")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CODES = ("WELCOME10", "SPRING15", "BEANS20", "FREESHIP", "LOYAL5")
CUSTOMER_FOLLOW_UPS = {  # what the customer writes next, by the status the last reply left
    PENDING: (
        "Here is the order number and a photo of the parcel, as you asked.",
        "I have attached the receipt. The delivery address is the same as on the order.",
        "That worked, thank you so much!",
        "OK, I tried again and it still does not work, I am afraid.",
        "Great, that is exactly what I needed.",
    ),
    SOLVED: (
        "Sorry, one more question: can I also change the delivery address for my next order?",
        "Still not sorted, I am afraid. Could you have another look?",
        "I am not happy with this answer, to be honest. I would like a refund instead.",
        "Thanks! Actually, the same thing happened with my last order too.",
    ),
    OPEN: (
        "Any update on this? It has been a few days.",
        "Just checking in: did you hear back from the courier?",
        "Thanks for the quick reply. Is there anything else you need from me?",
    ),
}
AGENT_FOLLOW_UPS = (
    "Thanks for getting back to me. Could you send me the order number and a photo, so I can sort this out?",
    "I have checked again and everything looks fine on our side now. Could you try once more?",
    "I am still waiting to hear back from the courier; I will update you as soon as I know more.",
    "I have passed this on to our roastery team and will come back to you tomorrow.",
    "Thank you for the details. I have refunded the difference to your original payment method.",
    "Good question! Yes, we can do that; I have updated your order.",
)
AGENT_CLOSINGS = (
    "I am glad that is sorted. I will close this ticket now, but just reply if anything else comes up.",
    "Everything should be fine now. Thanks again for your patience, and enjoy your coffee!",
    "That is all done. Have a lovely week!",
)
NOTES = (
    "Courier claim opened, reference {ref}.",
    "Regular customer: comes in every Saturday. Offer a free coffee voucher.",
    "Checked the order in Shopify: paid, packed on {day}, handed to the courier the same day.",
    "Asked the kitchen about the recipe; waiting for their answer before replying.",
    "Second time this month for this customer. Escalating to the shop manager.",
    "Refund approved by the manager.",
    "Warehouse confirms the {item} is back in stock on {day}.",
)
OUTBOUND = (
    "As promised on the phone, here is a summary: we are sending you a replacement {item} today, "
    "and you do not need to return anything.",
    "Following our call: I have booked the courier to collect the {item} on {day}.",
)
RARE_ASIDES = (  # rare words, so search benchmarks can ask for something that is seldom there
    (1 / 2_000, "P.S. Do you ever have kombucha on tap at the café?"),
    (1 / 50_000, "P.S. My grandmother swears your rye bread goes perfectly with sauerkraut."),
)
TAG_NAMES = tuple(sorted({t.tag for t in TOPICS} | {"vip", "complaint", "escalated", "press", "follow-up"}))
EXTRA_TAGS = ("vip", "complaint", "escalated", "follow-up")

SEED_TEAMS = ("Customer care", "Orders", "Wholesale", "Events", "Billing", "Roastery")
DEMO_TEAMS = {
    "Front of house": (("Café & bookings", "cafe-bookings", "cafe"), ("Catering & events", "catering", "events")),
    "Online shop": (("Orders & delivery", "orders", "orders"), ("Returns & refunds", "returns", "returns")),
}
NAME_LOCALES = ("en_GB", "en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL")
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example")
