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
        "alike": "Similar to {title}",
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
        "alike": "Parecido a {title}",
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


_WEATHER = {"en": {"rain": "rainy", "snow": "snowy", "sunny": "sunny", "cloudy": "cloudy", "foggy": "foggy",
                    "windy": "windy", "storm": "stormy"},
            "es": {"rain": ("lluviosos", "lluviosas"), "snow": ("de nieve", "de nieve"),
                   "sunny": ("soleados", "soleadas"), "cloudy": ("nublados", "nubladas"),
                   "foggy": ("de niebla", "de niebla"), "windy": ("de viento", "de viento"),
                   "storm": ("de tormenta", "de tormenta")}}  # fmt: skip
_PARTS = {"en": {"morning": "mornings", "afternoon": "afternoons", "evening": "evenings", "night": "nights"},
          "es": {"morning": "mañanas", "afternoon": "tardes", "evening": "noches", "night": "madrugadas"}}  # fmt: skip
_ALONE = {
    "en": {"daypart": {"morning": "in the morning", "afternoon": "in the afternoon", "evening": "in the evening",
                       "night": "at night"},
           "week_part": {"weekend": "at weekends", "weekday": "on weekdays"},
           "device": {"mobile": "on mobile", "desktop": "on desktop", "tablet": "on tablets"},
           "temperature": {"cold": "on cold days", "mild": "on mild days", "warm": "on warm days",
                           "hot": "on hot days"}},
    "es": {"daypart": {"morning": "por la mañana", "afternoon": "por la tarde", "evening": "por la noche",
                       "night": "de madrugada"},
           "week_part": {"weekend": "los fines de semana", "weekday": "entre semana"},
           "device": {"mobile": "en el móvil", "desktop": "en el ordenador", "tablet": "en tableta"},
           "temperature": {"cold": "los días de frío", "mild": "los días templados", "warm": "los días cálidos",
                           "hot": "los días de calor"}},
}  # fmt: skip
_PREFERENCE = ("weather", "daypart", "week_part", "temperature", "city", "country", "device", "channel")


def popular_when(context: dict[str, str], tag: str | None) -> str:
    """ "Popular on rainy evenings": the context that lifted an item, in words (weather and daypart read
    together; otherwise the first of them in `_PREFERENCE`)."""
    lang = language(tag)
    start = "Popular"  # the same word in both languages
    weather, part = context.get("weather"), context.get("daypart")
    adjectives = _WEATHER[lang].get(weather or "")
    if weather and adjectives:
        if lang == "en":
            return f"{start} on {adjectives} {_PARTS['en'][part]}" if part else f"{start} on {adjectives} days"
        masculine, feminine = adjectives
        return f"{start} en las {_PARTS['es'][part]} {feminine}" if part else f"{start} en los días {masculine}"
    for name in _PREFERENCE:
        value = context.get(name)
        if value is None:
            continue
        phrase = _ALONE[lang].get(name, {}).get(value)
        if phrase:
            return f"{start} {phrase}"
        if name in ("city", "country"):
            return f"{start} in {value}" if lang == "en" else f"{start} en {value}"
        if name == "weather":
            return f"{start} in this weather" if lang == "en" else f"{start} con este tiempo"
        if name == "channel":
            return f"{start} on {value}" if lang == "en" else f"{start} en {value}"
    return popular(tag)


def about(kind: str, title: str, tag: str | None) -> str:
    """The reason for an item shown beside a product: `together`, `similar` (same shoppers) or `alike`
    (reads alike)."""
    return _TEMPLATES[language(tag)][kind].format(title=title)
