"""Why an item is shown, in words a shopper reads, in their language (English and Spanish; English for
others). Pure: the serving layer passes what the reason is about."""

from __future__ import annotations

_TEMPLATES = {
    "en": {
        "viewed": "Because you viewed {title}",
        "added to cart": "Because you added {title} to your cart",
        "bought": "Because you bought {title}",
        "clicked": "Because you looked at {title}",
        "wished": "Because you saved {title}",
        "popular": "Popular in the shop right now",
        "popular_in": "Popular in {category}",
        "together": "Often bought with {title}",
        "similar": "Shoppers who liked {title} also liked this",
    },
    "es": {
        "viewed": "Porque viste {title}",
        "added to cart": "Porque añadiste {title} al carrito",
        "bought": "Porque compraste {title}",
        "clicked": "Porque miraste {title}",
        "wished": "Porque guardaste {title}",
        "popular": "Lo más popular de la tienda ahora",
        "popular_in": "Popular en {category}",
        "together": "Se compra a menudo con {title}",
        "similar": "A quien le gustó {title} también le gustó esto",
    },
}


def language(tag: str | None) -> str:
    primary = (tag or "en").split("-")[0].split("_")[0].lower()
    return primary if primary in _TEMPLATES else "en"


def because(action: str, title: str, tag: str | None) -> str:
    templates = _TEMPLATES[language(tag)]
    return templates.get(action, templates["viewed"]).format(title=title)


def popular(tag: str | None, category: str | None = None) -> str:
    templates = _TEMPLATES[language(tag)]
    return templates["popular_in"].format(category=category) if category else templates["popular"]


def about(kind: str, title: str, tag: str | None) -> str:
    """The reason for an item shown beside a product: `together` or `similar`."""
    return _TEMPLATES[language(tag)][kind].format(title=title)
