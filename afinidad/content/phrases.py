"""The offline generator's phrasings, in English and Spanish, aligned: the k-th phrasing of a slot says the same
thing in both languages, so a variant can be localised by writing it again with the same choices.

A slot's phrasings may use: {shop} (the brand), {product}, {brand}, {category}, {price} (the current price
with its currency), {percent} and {code} (an offer the brief allows), {season}, {others} (further products).
A phrasing whose fields the brief cannot fill is skipped. None states a fact that is not in the brief or the
catalog: no free shipping, no stock levels, no superlatives."""

from __future__ import annotations

Bank = dict[str, dict[str, tuple[str, ...]]]  # slot -> language -> phrasings

OPENERS: Bank = {
    "friendly": {
        "en": ("Hi {{first_name}},", "Hello {{first_name}},", "Hey {{first_name}},", "Good news, {{first_name}}:"),
        "es": ("Hola {{first_name}}:", "¡Hola, {{first_name}}!", "Qué tal, {{first_name}}:", "Buenas noticias, {{first_name}}:"),
    },
    "formal": {
        "en": ("Dear {{first_name}},", "Dear {{first_name}},", "Good day {{first_name}},", "Dear {{first_name}},"),
        "es": ("Estimado/a {{first_name}}:", "Apreciado/a {{first_name}}:", "Buenos días, {{first_name}}:", "Estimado/a {{first_name}}:"),
    },
}  # fmt: skip

SUBJECTS: Bank = {
    "promote": {
        "en": ("{product}, picked for you", "Have you seen {product}?", "{product} is waiting for you",
               "Meet {product} from {brand}", "A closer look at {product}", "{product}: now {price}",
               "Your next favourite: {product}", "Something new in {category}"),
        "es": ("{product}, elegido para ti", "¿Has visto {product}?", "{product} te está esperando",
               "Descubre {product} de {brand}", "Un vistazo a {product}", "{product}: ahora {price}",
               "Tu próximo favorito: {product}", "Novedades en {category}"),
    },
    "offer": {
        "en": ("{percent}% off {product}", "Save {percent}% on {product}", "{percent}% off: {product}",
               "Take {percent}% off {category}", "Your {percent}% off starts now", "{product}, now {percent}% off",
               "A {percent}% treat from {shop}", "{percent}% off with code {code}"),
        "es": ("{percent}% en {product}", "Ahorra un {percent}% en {product}", "{percent}% de descuento: {product}",
               "{percent}% menos en {category}", "Tu {percent}% de descuento empieza hoy", "{product}, ahora un {percent}% menos",
               "Un {percent}% de regalo de {shop}", "{percent}% con el código {code}"),
    },
    "winback": {
        "en": ("We saved you a seat, {{first_name}}", "It has been a while", "Come back to {shop}",
               "{shop} misses you", "Still thinking about {product}?", "See what is new at {shop}",
               "Pick up where you left off", "A reason to come back: {product}"),
        "es": ("Te guardamos un sitio, {{first_name}}", "Ha pasado un tiempo", "Vuelve a {shop}",
               "En {shop} te echamos de menos", "¿Sigues pensando en {product}?", "Mira las novedades de {shop}",
               "Sigue donde lo dejaste", "Un motivo para volver: {product}"),
    },
    "new_arrivals": {
        "en": ("New in: {product}", "Just arrived at {shop}", "Fresh in {category}", "First look: {product}",
               "New from {brand}: {product}", "This week at {shop}", "Newly added: {product}", "New {category} to explore"),
        "es": ("Novedad: {product}", "Recién llegado a {shop}", "Novedades en {category}", "En primicia: {product}",
               "Lo nuevo de {brand}: {product}", "Esta semana en {shop}", "Acaba de llegar: {product}",
               "Nuevo en {category} para descubrir"),
    },
    "seasonal": {
        "en": ("Ready for {season}? Meet {product}", "{season} picks from {shop}", "Your {season} list: {product}",
               "{season} starts with {product}", "For {season}: {product}", "{season} at {shop}",
               "Made for {season}: {product}", "{season} favourites in {category}"),
        "es": ("¿Listo para {season}? Descubre {product}", "Selección de {season} de {shop}",
               "Tu lista de {season}: {product}", "{season} empieza con {product}", "Para {season}: {product}",
               "{season} en {shop}", "Pensado para {season}: {product}", "Favoritos de {season} en {category}"),
    },
}  # fmt: skip

PREHEADERS: Bank = {
    "*": {
        "en": ("{product} from {brand}, {price}.", "Take a look at {product} today.", "Open to see {product}.",
               "Everything about {product} inside.", "{category} from {shop}, chosen with care.",
               "{product} and more from {shop}."),
        "es": ("{product} de {brand}, {price}.", "Echa un vistazo a {product} hoy.", "Ábrelo para ver {product}.",
               "Todo sobre {product}, dentro.", "{category} de {shop}, elegido con cuidado.",
               "{product} y más en {shop}."),
    },
    "offer": {
        "en": ("{percent}% off {product} with code {code}.", "Use {code} for {percent}% off.",
               "Your code {code} takes {percent}% off.", "{percent}% off, code {code}, {shop}.",
               "Save {percent}% on {product}: code {code}.", "Code {code}: {percent}% off {category}."),
        "es": ("{percent}% en {product} con el código {code}.", "Usa {code} y ahorra un {percent}%.",
               "Tu código {code} descuenta un {percent}%.", "{percent}% de descuento, código {code}, {shop}.",
               "Ahorra un {percent}% en {product}: código {code}.", "Código {code}: {percent}% en {category}."),
    },
}  # fmt: skip

INTROS: Bank = {
    "promote": {
        "en": ("We think you will like {product} from {brand}.", "{product} caught our eye, and we think it will catch yours.",
               "Here is something from our {category} range: {product}.", "Take a look at {product}, by {brand}."),
        "es": ("Creemos que te gustará {product} de {brand}.", "{product} nos llamó la atención y creemos que a ti también.",
               "Te presentamos algo de nuestra gama de {category}: {product}.", "Echa un vistazo a {product}, de {brand}."),
    },
    "offer": {
        "en": ("For a short while, {product} is {percent}% off with code {code}.",
               "Use code {code} at checkout and take {percent}% off {product}.",
               "Here is {percent}% off {product}: enter {code} when you order.",
               "Your code {code} gives you {percent}% off {product}."),
        "es": ("Durante poco tiempo, {product} tiene un {percent}% de descuento con el código {code}.",
               "Usa el código {code} al pagar y ahorra un {percent}% en {product}.",
               "Aquí tienes un {percent}% en {product}: introduce {code} al hacer tu pedido.",
               "Tu código {code} te da un {percent}% de descuento en {product}."),
    },
    "winback": {
        "en": ("It has been a while since your last visit to {shop}.", "We have been busy at {shop} since you last came by.",
               "A lot has changed at {shop}, and we would love to show you.", "We kept a few things in mind for you."),
        "es": ("Hace tiempo que no visitas {shop}.", "En {shop} no hemos parado desde tu última visita.",
               "Han cambiado muchas cosas en {shop} y nos encantaría enseñártelas.", "Hemos pensado en algunas cosas para ti."),
    },
    "new_arrivals": {
        "en": ("Fresh in our {category} range: {product} from {brand}.", "{product} has just arrived at {shop}.",
               "New this week: {product}.", "The newest addition to {category} is {product}."),
        "es": ("Recién llegado a nuestra gama de {category}: {product} de {brand}.", "{product} acaba de llegar a {shop}.",
               "Novedad de esta semana: {product}.", "Lo último en {category} es {product}."),
    },
    "seasonal": {
        "en": ("{season} is a good time for {product}.", "For {season}, we picked {product} from {brand}.",
               "Get ready for {season} with {product}.", "Our {season} selection starts with {product}."),
        "es": ("{season} es buen momento para {product}.", "Para {season} hemos elegido {product} de {brand}.",
               "Prepárate para {season} con {product}.", "Nuestra selección de {season} empieza con {product}."),
    },
}  # fmt: skip

MORE: Bank = {
    "*": {
        "en": ("You might also like {others}.", "Also worth a look: {others}.", "Pair it with {others}.",
               "Have a look at {others} too."),
        "es": ("También te puede gustar {others}.", "Vale la pena ver también {others}.", "Combínalo con {others}.",
               "Echa un vistazo también a {others}."),
    },
}  # fmt: skip

CTAS: Bank = {
    "friendly": {
        "en": ("Take a look", "See it now", "Have a look", "Find out more", "Shop now", "Explore it"),
        "es": ("Échale un vistazo", "Míralo ahora", "Descúbrelo", "Más información", "Compra ahora", "Explóralo"),
    },
    "formal": {
        "en": ("View the product", "See the details", "Learn more", "Visit our shop", "Place your order", "Discover more"),
        "es": ("Ver el producto", "Ver los detalles", "Más información", "Visite nuestra tienda", "Realice su pedido", "Descubra más"),
    },
}  # fmt: skip

SIGNOFFS: Bank = {
    "*": {
        "en": ("See you soon,\nThe {shop} team", "Thanks for being with us,\n{shop}", "Warm wishes,\nThe {shop} team",
               "Until next time,\n{shop}"),
        "es": ("Hasta pronto,\nEl equipo de {shop}", "Gracias por estar con nosotros,\n{shop}",
               "Un saludo,\nEl equipo de {shop}", "Hasta la próxima,\n{shop}"),
    },
}  # fmt: skip

AD_HEADLINES: Bank = {
    "*": {
        "en": ("{product}", "{brand} {category}", "Shop {shop}", "{product} at {shop}", "Now {price}", "{percent}% Off {category}",
               "Code {code}: {percent}% Off", "New {category}", "{brand} at {shop}", "Order {product} Online", "{season} {category}",
               "Buy {product} Today"),
        "es": ("{product}", "{category} de {brand}", "Compra en {shop}", "{product} en {shop}", "Ahora {price}",
               "{percent}% en {category}", "Código {code}: {percent}%", "Novedades {category}", "{brand} en {shop}",
               "Pide {product} Online", "{category} de {season}", "Compra {product} Hoy"),
    },
}  # fmt: skip

AD_DESCRIPTIONS: Bank = {
    "*": {
        "en": ("Discover {product} from {brand} at {shop}. Now {price}.", "Shop {category} from {brand} online at {shop}.",
               "Take {percent}% off {product} with code {code}. Order online at {shop}.",
               "{product} by {brand}, {price}. See the details and order online.",
               "Browse our {category} range and find {product} at {shop}.", "Shop {category} online at {shop}.",
               "Take {percent}% off with code {code} at {shop}.", "Order online at {shop} today.",
               "See what is new at {shop}."),
        "es": ("Descubre {product} de {brand} en {shop}. Ahora {price}.", "Compra {category} de {brand} online en {shop}.",
               "Ahorra un {percent}% en {product} con el código {code}. Pide online en {shop}.",
               "{product} de {brand}, {price}. Mira los detalles y pide online.",
               "Explora nuestra gama de {category} y encuentra {product} en {shop}.", "Compra {category} online en {shop}.",
               "Ahorra un {percent}% con el código {code} en {shop}.", "Pide hoy online en {shop}.",
               "Descubre las novedades de {shop}."),
    },
}  # fmt: skip

SOCIAL: Bank = {
    "*": {
        "en": ("Meet {product} from {brand}.", "{product} just landed at {shop}.", "Our pick this week: {product}.",
               "{percent}% off {product} with code {code}.", "Ready for {season}? {product} is.",
               "Say hello to {product}."),
        "es": ("Te presentamos {product} de {brand}.", "{product} acaba de llegar a {shop}.",
               "Nuestra elección de la semana: {product}.", "{percent}% en {product} con el código {code}.",
               "¿Listo para {season}? {product} sí.", "Saluda a {product}."),
    },
}  # fmt: skip

SMS: Bank = {
    "*": {
        "en": ("{shop}: {product} is now {price}. {cta}: {url}", "{shop}: {percent}% off {product} with code {code}. {url}",
               "{shop}: new in {category}, {product}. {cta}: {url}", "{shop}: your code {code} gives {percent}% off. {url}",
               "{shop}: {product} from {brand}, {price}. {url}"),
        "es": ("{shop}: {product} ahora a {price}. {cta}: {url}", "{shop}: {percent}% en {product} con el código {code}. {url}",
               "{shop}: novedad en {category}, {product}. {cta}: {url}", "{shop}: tu código {code} da un {percent}% de descuento. {url}",
               "{shop}: {product} de {brand}, {price}. {url}"),
    },
}  # fmt: skip

DESCRIPTION_OPENERS: Bank = {
    "*": {
        "en": ("{product} from {brand}.", "Meet {product}, by {brand}.", "Introducing {product} from {brand}.",
               "{brand} presents {product}.", "Discover {product} by {brand}."),
        "es": ("{product} de {brand}.", "Te presentamos {product}, de {brand}.", "Presentamos {product} de {brand}.",
               "{brand} presenta {product}.", "Descubre {product} de {brand}."),
    },
}  # fmt: skip

DESCRIPTION_CATEGORY: Bank = {
    "*": {
        "en": ("Part of our {category} range.", "Found in {category}.", "From the {category} collection.",
               "Listed under {category}."),
        "es": ("Forma parte de nuestra gama de {category}.", "Lo encontrarás en {category}.",
               "De la colección de {category}.", "En la categoría {category}."),
    },
}  # fmt: skip

DESCRIPTION_ATTRIBUTE: Bank = {
    "*": {
        "en": ("{key}: {value}.", "{key} — {value}.", "{key}: {value}."),
        "es": ("{key}: {value}.", "{key} — {value}.", "{key}: {value}."),
    },
}  # fmt: skip

DESCRIPTION_PRICE: Bank = {
    "*": {
        "en": ("Price: {price}.", "Yours for {price}.", "Available for {price}."),
        "es": ("Precio: {price}.", "Tuyo por {price}.", "Disponible por {price}."),
    },
}  # fmt: skip

REVIEW_REPLIES: Bank = {
    "positive": {
        "en": ("Thank you for your kind words about {product}! We are glad it works for you.",
               "Thanks so much for the lovely review of {product}. It made our day.",
               "We are happy to hear you like {product}. Thank you for letting us know!",
               "Thank you for taking the time to review {product}. We are delighted you enjoy it."),
        "es": ("¡Gracias por tus palabras sobre {product}! Nos alegra que te funcione.",
               "Muchas gracias por tu reseña de {product}. Nos has alegrado el día.",
               "Nos alegra saber que te gusta {product}. ¡Gracias por contárnoslo!",
               "Gracias por dedicar tiempo a valorar {product}. Estamos encantados de que lo disfrutes."),
    },
    "neutral": {
        "en": ("Thank you for your review of {product}. We would love to hear how we could do better.",
               "Thanks for sharing your thoughts on {product}. Your feedback helps us improve.",
               "We appreciate your honest review of {product}. Tell us what would make it better for you.",
               "Thank you for the feedback on {product}. We are listening."),
        "es": ("Gracias por tu reseña de {product}. Nos encantaría saber cómo podemos mejorar.",
               "Gracias por compartir tu opinión sobre {product}. Tus comentarios nos ayudan a mejorar.",
               "Agradecemos tu reseña sincera de {product}. Cuéntanos qué lo haría mejor para ti.",
               "Gracias por tus comentarios sobre {product}. Te escuchamos."),
    },
    "negative": {
        "en": ("We are sorry {product} did not meet your expectations. Please reply to this message so we can make it right.",
               "Thank you for telling us about your experience with {product}, and we apologise. Our team will be in touch to help.",
               "We are sorry to hear about the problem with {product}. Please contact our customer service so we can sort it out.",
               "This is not the experience we want you to have with {product}. We apologise and would like to help."),
        "es": ("Sentimos que {product} no haya cumplido tus expectativas. Responde a este mensaje y lo solucionaremos.",
               "Gracias por contarnos tu experiencia con {product}, y lo sentimos. Nuestro equipo se pondrá en contacto para ayudarte.",
               "Lamentamos el problema con {product}. Contacta con atención al cliente y lo resolveremos.",
               "No es la experiencia que queremos que tengas con {product}. Lo sentimos y queremos ayudarte."),
    },
}  # fmt: skip

HASHTAG_WORDS = {"en": {"new": "NewIn", "offer": "Sale"}, "es": {"new": "Novedad", "offer": "Oferta"}}

# Spanish phrasings are written with tú; a brand that says usted gets them rewritten by these (whole words,
# in order; the phrasings above are the only text they apply to, so the list is complete for them).
USTED: tuple[tuple[str, str], ...] = (
    ("para ti", "para usted"),
    ("te está esperando", "le está esperando"),
    ("Te guardamos", "Le guardamos"),
    ("te echamos de menos", "le echamos de menos"),
    ("Te presentamos", "Le presentamos"),
    ("Te escuchamos", "Le escuchamos"),
    ("te gustará", "le gustará"),
    ("te gusta", "le gusta"),
    ("te funcione", "le funcione"),
    ("te da", "le da"),
    ("te puede", "le puede"),
    ("ayudarte", "ayudarle"),
    ("enseñártelas", "enseñárselas"),
    ("¿Has visto", "¿Ha visto"),
    ("¿Sigues", "¿Sigue"),
    ("Nos has", "Nos ha"),
    ("no visitas", "no visita"),
    ("que tengas", "que tenga"),
    ("lo disfrutes", "lo disfrute"),
    ("Tus", "Sus"),
    ("tus", "sus"),
    ("Tu", "Su"),
    ("tu", "su"),
    ("Tuyo", "Suyo"),
    ("Descubre", "Descubra"),
    ("Descúbrelo", "Descúbralo"),
    ("Échale", "Échele"),
    ("Míralo", "Mírelo"),
    ("Mira", "Mire"),
    ("Compra", "Compre"),
    ("Explóralo", "Explórelo"),
    ("Explora", "Explore"),
    ("Ahorra", "Ahorre"),
    ("Usa", "Use"),
    ("introduce", "introduzca"),
    ("Echa", "Eche"),
    ("Combínalo", "Combínelo"),
    ("Vuelve", "Vuelva"),
    ("Sigue", "Siga"),
    ("Prepárate", "Prepárese"),
    ("Pide", "Pida"),
    ("Saluda", "Salude"),
    ("Cuéntanos", "Cuéntenos"),
    ("Responde", "Responda"),
    ("Contacta", "Contacte"),
)
