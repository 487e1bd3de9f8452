"""The demo café's help center (``make run``)."""

from .models import Article, Category, Section
from .services import article_save

DEMO_ARTICLES = {
    ("Orders and delivery", "orders", "Tracking, delivery times and what to do when a parcel is late."): {
        "Delivery": [
            (
                "Where is my order?",
                "Every order email has a **tracking link**. Parcels usually arrive within "
                "2 working days in the UK and 4 in the EU.\n\nIf the tracking has not moved for 3 days, write to us "
                "with your order number and we will ask the courier.",
                True,
            ),
            (
                "Delivery costs and times",
                "Delivery is free from £30. Below that it costs £3.90.\n\n"
                "- UK: 1–2 working days\n- EU: 3–4 working days",
                False,
            ),
        ],
        "Returns": [
            (
                "Returning an item",
                "You can return unopened items within **30 days**. Use the returns label "
                "from your order email; we refund within 5 days of receiving the parcel.",
                True,
            ),
        ],
    },
    ("Coffee and café", "cafe", "Opening hours, allergens and events."): {
        "Visiting us": [
            ("Opening hours", "Monday to Friday 7:30–18:00, Saturday 9:00–17:00, closed on Sunday.", False),
            (
                "Allergens in our cakes",
                "All cakes are made in a kitchen that handles **nuts, gluten and milk**. "
                "Ask at the counter for the allergen sheet of each cake.",
                False,
            ),
        ],
        "Beans and brewing": [
            (
                "Which grind for my coffee maker?",
                "Espresso: fine. Moka pot: fine to medium. Filter: medium. "
                "French press: coarse. Choose the grind when you order, or buy whole beans.",
                False,
            ),
        ],
    },
}


def demo_help_center_load() -> int:
    """Categories, sections and published articles; returns how many articles."""
    count = 0
    for position, ((name, slug, description), sections) in enumerate(DEMO_ARTICLES.items()):
        category = Category.objects.create(name=name, slug=slug, description=description, position=position)
        for section_position, (section_name, articles) in enumerate(sections.items()):
            section = Section.objects.create(category=category, name=section_name, position=section_position)
            for title, body, pinned in articles:
                slug = "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-").replace("--", "-")
                article_save(article=Article(section=section, title=title, slug=slug, body=body, pinned=pinned,
                                             state=Article.State.PUBLISHED))  # fmt: skip
                count += 1
    return count
