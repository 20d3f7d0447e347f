"""The seeded composer of the sample crawl's prose, its slot vocabulary and reader comments.

Each (language, topic) bank of sample_banks.py holds original sentences, some with
`{slot}` fields that `compose_paragraphs` fills from the language's vocabulary. A page
never uses a template twice: the Gopher repetition filters (duplicate n-gram fractions)
would rightly drop prose that repeats itself, so a bank's size bounds how long a page on
its topic can be.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping

from curation.sample_banks import BANKS

Paragraph = tuple[str, ...]  # the sentences of one paragraph

# Fillers for the `{slot}` fields, per language; page-level slots (a feature's or a
# product's name) are passed to `compose_paragraphs` and take precedence.
VOCABULARY: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "name": ("Maggie Trelawny", "Tom Pascoe", "Ruth Annear", "Declan Moyle", "Priya Nair"),
        "street": ("Quay Street", "Chapel Hill", "Fore Street", "Harbour Row", "Rope Walk"),
        "island": ("Gull Island", "St Brannock", "the Skerry", "Holm Isle"),
        "org": ("the ferry company", "the harbour board", "the county highways team"),
        "month": ("March", "April", "May", "September", "October", "November"),
        "day": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"),
        "city": ("Norrwick", "Eastbridge", "Caldmouth", "Hollin", "Marrowgate"),
        "village": ("Saltmere", "Polwenna", "Brackenby", "Tresillian Cove", "Nether Ashby"),
        "town": ("Porthkennack", "Kingsford", "Lowmoor", "Amberley Bay"),
        "region": ("Westmarch", "Corrow", "Elverdale"),
        "ingredient": ("pearl barley", "fresh thyme", "smoked paprika", "sour cream"),
        "substitute": ("spelt", "dried oregano", "sweet paprika", "thick yoghurt"),
    },
    "fr": {
        "town": ("Quimperlé", "Saint-Brévin", "Lannoy", "Montbrison"),
        "village": ("Kerlouan", "Port-Manec", "Trévignon"),
        "region": ("Cornouaille du Nord", "Pays de Brume"),
    },
    "de": {
        "village": ("Moorhusen", "Kalkhorst", "Birkenau am See", "Grünwede"),
        "city": ("Bremerhafen", "Lindenau", "Oberstein"),
        "lake": ("Weißen Sees", "Grauen Sees", "Kranichsees"),
    },
    "es": {
        "town": ("Villanueva del Río", "Puerto Alto", "Santa Brígida"),
        "village": ("Cala Morena", "Puerto Viejo", "Los Arenales"),
        "region": ("Costa Brava del Sur", "Tierra de Cabos"),
    },
    "ja": {"city": ("港南", "北浜", "緑川")},
}

# Numeric slots, the same in every language: (low, high, step).
NUMBERS: dict[str, tuple[int, int, int]] = {
    "num": (3, 40, 1),
    "hundreds": (200, 900, 50),
    "pct": (4, 31, 1),
    "year": (1862, 2016, 1),
    "km": (2, 18, 1),
    "metres": (3, 9, 1),
    "gust": (120, 190, 5),
    "temp": (170, 220, 10),
    "grams": (90, 240, 5),
}
LITRES = ("1.2", "1.5", "1.8")


class SlotError(KeyError):
    """A template names a slot that neither the page nor the vocabulary can fill."""

    reason = "unknown_slot"

    def __init__(self, slot: str, lang: str) -> None:
        self.detail = f"slot {slot!r} in a {lang!r} template"
        super().__init__(self.detail)


def slot_names(template: str) -> tuple[str, ...]:
    """The `{slot}` field names of a template, in order."""
    return tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)


def fill_template(
    template: str, rng: random.Random, lang: str, page_slots: Mapping[str, str]
) -> str:
    """Fill every `{slot}` of a template from the page slots, numbers or vocabulary."""
    values: dict[str, str] = {}
    vocab = VOCABULARY.get(lang, {})
    for name in slot_names(template):
        if name in page_slots:
            values[name] = page_slots[name]
        elif name in NUMBERS:
            low, high, step = NUMBERS[name]
            values[name] = str(rng.randrange(low, high + 1, step))
        elif name == "litres":
            values[name] = rng.choice(LITRES)
        elif name in vocab:
            values[name] = rng.choice(vocab[name])
        else:
            raise SlotError(name, lang)
    return template.format_map(values)


def count_words(text: str) -> int:
    """Whitespace words, or characters for Japanese (which has no spaces)."""
    if any("\u3040" <= ch <= "\u9fff" for ch in text):
        return sum(1 for ch in text if not ch.isspace())
    return len(text.split())


def compose_paragraphs(
    rng: random.Random,
    lang: str,
    topic: str,
    n_words: int,
    page_slots: Mapping[str, str] | None = None,
) -> tuple[Paragraph, ...]:
    """Paragraphs of 2-5 distinct bank sentences, about `n_words` long (capped by the bank).

    `topic` may join banks with "+" ("recipe+soup": general cooking plus soup sentences)."""
    bank = [s for part in topic.split("+") for s in BANKS[(lang, part)]]
    rng.shuffle(bank)
    slots = dict(page_slots or {})
    paragraphs: list[Paragraph] = []
    words = 0
    while bank and words < n_words:
        size = min(rng.randint(2, 5), len(bank))
        sentences = tuple(fill_template(bank.pop(), rng, lang, slots) for _ in range(size))
        words += sum(count_words(s) for s in sentences)
        paragraphs.append(sentences)
    return tuple(paragraphs)


def paragraph_text(paragraph: Paragraph, lang: str) -> str:
    """One paragraph as running text (Japanese sentences join without spaces)."""
    return ("" if lang == "ja" else " ").join(paragraph)


_LOREM = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt "
    "ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco "
    "laboris nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate "
    "velit esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat non proident "
    "sunt culpa qui officia deserunt mollit anim id est laborum"
)
LOREM_WORDS = tuple(_LOREM.split())


def lorem_paragraphs(rng: random.Random, n_words: int) -> tuple[str, ...]:
    """Placeholder text that starts with the canonical phrase (a page C4 would drop)."""
    paragraphs = []
    words = 0
    while words < n_words:
        sentences = []
        for _ in range(rng.randint(3, 5)):
            body = [rng.choice(LOREM_WORDS) for _ in range(rng.randint(7, 14))]
            sentences.append(" ".join(body).capitalize() + ".")
        if not paragraphs:
            sentences.insert(0, "Lorem ipsum dolor sit amet, consectetur adipiscing elit.")
        words += sum(len(s.split()) for s in sentences)
        paragraphs.append(" ".join(sentences))
    return tuple(paragraphs)


# Reader comments: boilerplate for the extractor (must not reach the output).
COMMENTS: dict[str, tuple[str, ...]] = {
    "en": (
        "Great piece, but nobody ever mentions the parking on the seafront.",
        "I grew up two streets from here and never knew half of this history.",
        "Does anyone know if the car park by the slipway is still free after six?",
        "Tried this last night and the whole family asked for seconds, thank you!",
        "First! Also, the photos are gorgeous as always.",
        "We stayed in the same guesthouse last year and loved every minute.",
        "Could you post the route as a file for my phone next time?",
        "My oven runs hot, so I took it out five minutes early and it was perfect.",
        "Same thing happened to my neighbour's boat, the insurers were no help at all.",
        "Bookmarking this for our trip in the spring.",
    ),
    "fr": (
        "Merci pour la recette, je la refais chaque semaine depuis l’hiver !",
        "Très bel article, j’ai hâte d’y retourner cet été.",
        "Est-ce que ça marche aussi avec de la pâte brisée du commerce ?",
    ),
    "de": (
        "Danke für den schönen Bericht, da muss ich auch einmal hin!",
        "Gibt es in der Gaststätte auch etwas Vegetarisches?",
        "Wir waren letztes Jahr dort und hatten leider nur Regen.",
    ),
    "es": (
        "¡Me encanta esta receta! La hago todos los domingos.",
        "¿Se puede hacer con boniato en lugar de patata?",
        "Gracias por compartirla, quedó riquísima.",
    ),
    "ja": ("素敵な旅行記をありがとうございます。", "私も来月行ってみます！"),
}


# Alt texts of content images, by topic (non-English pages leave alt empty).
ALTS = {
    "news": ("The old quay at low tide", "Cranes on the harbour wall", "Boats in the inner basin"),
    "travel": ("The view from the train window", "A path along the ridge", "The harbour at dusk"),
    "recipe": ("The finished dish", "Ingredients on the table", "A slice on a plate"),
    "forum": ("Photo of the workbench", "Close-up of the part", "The bike on the stand"),
    "lantern": ("The lantern on a camp table", "The lantern with its handle folded"),
    "kettle": ("The kettle on a stove", "The kettle by a campfire"),
    "wiki": ("View from the shore", "An old postcard of the site", "The path in winter"),
}

COOKIE_WALL = (
    "We use cookies and similar technologies to run this site, to measure our audience and to"
    " show you personalised advertising.",
    "By clicking Accept all cookies you agree to the storage of cookies on your device;"
    " you can change your choice at any time in our cookie policy.",
    "Please enable JavaScript in your browser to continue reading: this site requires"
    " JavaScript to display articles.",
    "Accept all cookies. Reject non-essential cookies. Manage cookie settings.",
    "Read our privacy policy and terms of use to learn how we use cookies and your data.",
)
NOT_FOUND = (
    "Sorry, the page you were looking for could not be found.",
    "It may have been moved or deleted. Try the search box or go back to the front page.",
)
