"""The page table of the sample crawl: which pages, sites, layouts, languages and images.

Every required case of the sample has a row here (see the comments), fixed for every
seed; the seed only changes the prose, the figure positions and the pictures.
"""

from __future__ import annotations

from dataclasses import dataclass

HARBOR_BASE = "https://cdn.harbor.example/media/2024/"
MISSING_ORIGIN = "https://photos.lostcdn.invalid"  # never resolves: a real fetch fails fast
CORRUPT_URL = "https://news.harbor.example/2024/03/lighthouse-keepers-retire"


@dataclass(frozen=True)
class Img:
    """One content image of a page row."""

    markup: str = "plain"  # plain, srcset, xsrcset, lazy, lazy_srcset, lazy_attr, picture
    fmt: str = "jpeg"  # jpeg, png or webp
    where: str = "warc"  # warc, mirror or missing
    status: str = "ok"  # ok, corrupt, too_small, aspect or bomb
    form: str = ""  # how the page writes the URL (abs, proto, root, rel); "" = site default
    content_type: str = ""  # the HTTP Content-Type it is served with, "" = by format
    name: str = ""  # reuse another page's image (the file stem), e.g. a stock photo


@dataclass(frozen=True)
class Row:
    """One page of the crawl."""

    site: str
    path: str
    lang: str
    title: str
    images: tuple[Img, ...] = ()
    words: tuple[int, int] = (220, 420)  # target prose length, drawn per seed
    kind: str = "content"  # content, cookie_wall, lorem, not_found, css, pdf
    topic: str = ""  # sentence bank; "" = the site's
    charset: str = "utf-8"
    declared: str = "both"  # where the charset is declared: both, header, meta, none
    base: str = ""  # <base href>
    slots: tuple[tuple[str, str], ...] = ()  # page-level template slots
    items: tuple[str, ...] = ()  # recipe ingredients


TOPICS = {
    "harbor": "news",
    "fernweh": "travel",
    "olivetree": "recipe",
    "spokes": "forum",
    "lumen": "lantern",
    "atlas": "wiki",
}
IMAGE_DIRS = {
    "harbor": "/media/2024/03",
    "fernweh": "/images/2024",
    "olivetree": "/photos",
    "spokes": "/attachments",
    "lumen": "/catalog",
    "atlas": "/media/commons",
}
DEFAULT_FORMS = {
    "harbor": "abs",
    "fernweh": "rel",
    "olivetree": "abs",
    "spokes": "root",
    "lumen": "abs",
    "atlas": "proto",
}
SHORT = (150, 175)  # non-English pages: their banks are smaller
FORUM_WORDS = (170, 200)  # a thread's bank: general forum talk plus the thread's own
RECIPE_WORDS = (200, 240)

_I = Img()
ROWS: tuple[Row, ...] = (
    # --- news.harbor.example: news articles (en) ---
    Row(
        "harbor",
        "/2024/03/ferry-terminal-reopens",
        "en",
        "Ferry terminal reopens after winter repairs",
        (Img("picture", fmt="webp"), Img("srcset"), _I),  # <picture>, srcset
    ),
    Row(
        "harbor",
        "/2024/03/council-approves-sea-wall",
        "en",
        "Council approves a new sea wall for the old quay",
        (Img("lazy"), Img("lazy_srcset")),  # data-src, data-srcset
    ),
    Row(  # the long page (> 600 words) with more than 5 images
        "harbor",
        "/2024/03/storm-season-outlook",
        "en",
        "What the storm season could mean for the harbour",
        (_I, Img("srcset"), Img(fmt="png"), Img("lazy"), Img("xsrcset"), _I, _I),
        words=(620, 650),
    ),
    Row(  # no images at all
        "harbor",
        "/2024/03/fish-market-prices",
        "en",
        "Fish market prices hold steady despite rough seas",
        (),
        words=(200, 300),
    ),
    Row(  # <base href> on another host, images relative to it
        "harbor",
        "/2024/03/harbour-festival-guide",
        "en",
        "Your guide to this year's harbour festival",
        (Img(form="rel"), Img(form="rel"), Img(form="rel", fmt="webp")),
        base=HARBOR_BASE,
    ),
    Row(  # a protocol-relative URL, and an image shared with the ferry article
        "harbor",
        "/2024/03/rowing-club-regatta",
        "en",
        "Rowing club prepares for its spring regatta",
        (Img(form="proto"), Img(name="ferry-terminal-reopens-3")),
    ),
    Row("harbor", "/subscribe/continue", "en", "Before you continue", kind="cookie_wall"),
    Row("harbor", "/2023/11/harbour-lights-switch-on", "en", "Page not found", kind="not_found"),
    Row("harbor", "/static/site.css", "", "", kind="css"),
    # --- blog.fernweh.example: travel blog (en, de, ja), relative image URLs ---
    Row(
        "fernweh",
        "/posts/night-train-to-the-coast",
        "en",
        "A night train to the coast",
        (_I, Img(where="mirror"), _I, Img(form="abs")),
    ),
    Row(
        "fernweh",
        "/posts/ridge-walk-in-fog",
        "en",
        "A ridge walk in the fog",
        (_I, _I, Img(where="missing"), _I, Img("srcset"), Img(fmt="webp")),
    ),
    Row(
        "fernweh",
        "/posts/packing-light",
        "en",
        "Packing light for a week of walking",
        (_I, Img(status="too_small")),
    ),
    Row(
        "fernweh",
        "/posts/island-hopping-by-ferry",
        "en",
        "Island hopping by ferry",
        (_I, Img(fmt="png", status="aspect"), _I),
    ),
    Row(  # WordPress / jQuery lazy-load attributes
        "fernweh",
        "/posts/three-days-in-the-city-of-bridges",
        "en",
        "Three days in the city of bridges",
        (Img("lazy_attr"),) * 4,
    ),
    Row(
        "fernweh",
        "/de/beitraege/herbst-im-moor",
        "de",
        "Herbst im Moor",
        (_I,) * 3,
        SHORT,
        topic="moor",
    ),
    Row(  # ISO-8859-1, declared only in a <meta http-equiv>
        "fernweh",
        "/de/beitraege/zugfahrt-durch-die-taeler",
        "de",
        "Zugfahrt durch die Täler",
        (_I, _I),
        SHORT,
        topic="train",
        charset="iso-8859-1",
        declared="meta",
    ),
    Row(  # Shift_JIS, declared only in <meta charset>
        "fernweh",
        "/ja/posts/minato-no-machi",
        "ja",
        "海辺の町への小さな旅",
        (_I, _I),
        (300, 340),
        charset="shift_jis",
        declared="meta",
    ),
    # --- kitchen.olivetree.example: recipes (en, es, fr) ---
    Row(
        "olivetree",
        "/recipes/lemon-barley-soup",
        "en",
        "Lemon and barley soup",
        (_I, Img(fmt="webp"), _I, Img("srcset"), _I),
        items=("150 g pearl barley", "2 onions", "1 unwaxed lemon", "1.2 litres stock"),
        words=RECIPE_WORDS,
        topic="recipe+soup",
    ),
    Row(
        "olivetree",
        "/recipes/roasted-pepper-flatbread",
        "en",
        "Roasted pepper flatbread",
        (_I, Img(status="corrupt"), _I),
        items=("3 red peppers", "300 g strong flour", "olive oil", "sea salt"),
        words=RECIPE_WORDS,
        topic="recipe+flatbread",
    ),
    Row(
        "olivetree",
        "/recipes/plum-cake",
        "en",
        "An easy plum cake",
        (Img(where="mirror"), Img(where="mirror")),
        items=("8 plums", "150 g butter", "150 g sugar", "3 eggs", "200 g flour"),
        words=RECIPE_WORDS,
        topic="recipe+cake",
    ),
    Row(
        "olivetree",
        "/es/recetas/tortilla-de-patatas",
        "es",
        "Tortilla de patatas con cebolla",
        (_I,) * 3,
        SHORT,
        topic="tortilla",
        items=("4 patatas medianas", "1 cebolla", "6 huevos", "aceite de oliva", "sal"),
    ),
    Row(  # windows-1252 with no charset declared anywhere: detection must find it
        "olivetree",
        "/es/recetas/arroz-con-verduras",
        "es",
        "Arroz con verduras",
        (_I, _I),
        SHORT,
        topic="arroz",
        charset="windows-1252",
        declared="none",
        items=("300 g de arroz", "1 pimiento rojo", "2 tomates", "1 litro de caldo"),
    ),
    Row(  # windows-1252 (œ, ’, €), declared only in the HTTP header
        "olivetree",
        "/fr/recettes/tarte-aux-poireaux",
        "fr",
        "Tarte aux poireaux",
        (_I, Img("srcset"), _I),
        SHORT,
        charset="windows-1252",
        declared="header",
        items=("3 poireaux", "1 pâte brisée", "3 œufs", "20 cl de crème", "muscade"),
    ),
    # --- forum.spokes.example: forum threads (en) ---
    Row(
        "spokes",
        "/t/wheel-truing-at-home/4411",
        "en",
        "Wheel truing at home without a stand?",
        (_I, _I),
        FORUM_WORDS,
        topic="forum+truing",
    ),
    Row(  # a WebP served as application/octet-stream: the type must be sniffed
        "spokes",
        "/t/commuting-in-winter/4512",
        "en",
        "Commuting through the winter: your tips",
        (Img(fmt="webp", content_type="application/octet-stream"),),
        FORUM_WORDS,
        topic="forum+winter",
    ),
    Row(
        "spokes",
        "/t/restoring-a-steel-frame/4620",
        "en",
        "Restoring a 1980s steel frame (lots of photos)",
        (_I, _I, Img(where="mirror"), _I, _I, Img(fmt="png"), _I, _I),
        words=(270, 290),
        topic="forum+frame",
    ),
    Row(
        "spokes",
        "/t/chain-wear-question/4702",
        "en",
        "Chain wear question",
        (_I, Img(fmt="png", status="bomb")),
        FORUM_WORDS,
        topic="forum+chain",
    ),
    Row(
        "spokes",
        "/t/route-ideas-along-the-river/4755",
        "en",
        "Route ideas along the river",
        (Img(where="missing"), _I),
        FORUM_WORDS,
        topic="forum+route",
    ),
    # --- shop.lumen.example: product pages (en, fr) ---
    Row(
        "lumen",
        "/products/trail-lantern-300",
        "en",
        "Trail Lantern 300",
        (Img("lazy_srcset"),) * 6,
        (180, 210),
        slots=(("product", "Trail Lantern 300"),),
    ),
    Row(
        "lumen",
        "/products/enamel-camp-kettle",
        "en",
        "Enamel camp kettle",
        (Img(fmt="webp"), Img(fmt="webp"), _I),
        (170, 200),
        topic="kettle",
        slots=(("product", "enamel camp kettle"),),
    ),
    Row(
        "lumen",
        "/fr/produits/lampe-frontale-rechargeable",
        "fr",
        "Lampe frontale rechargeable",
        (_I,) * 3,
        SHORT,
        topic="product",
    ),
    Row("lumen", "/products/new-item-draft", "en", "Product name goes here", (_I,), kind="lorem"),
    Row("lumen", "/docs/trail-lantern-300-manual.pdf", "", "", kind="pdf"),
    # --- wiki.atlas.example: encyclopaedia articles (en, fr, de, es) ---
    Row(
        "atlas",
        "/wiki/Saltmere_Lighthouse",
        "en",
        "Saltmere Lighthouse",
        (_I,) * 4,
        (210, 250),
        slots=(("feature", "Saltmere Lighthouse"), ("kind", "lighthouse")),
        topic="wiki+lighthouse",
    ),
    Row(
        "atlas",
        "/wiki/Grey_Heron_Estuary",
        "en",
        "Grey Heron Estuary",
        (_I,) * 9,
        (290, 310),
        slots=(("feature", "The Grey Heron Estuary"), ("kind", "tidal estuary")),
        topic="wiki+estuary",
    ),
    Row(
        "atlas",
        "/wiki/Tidal_Mill_Trail",
        "en",
        "Tidal Mill Trail",
        (Img(where="mirror"), _I),
        (200, 230),
        slots=(("feature", "The Tidal Mill Trail"), ("kind", "waymarked walking trail")),
        topic="wiki+mill",
    ),
    Row(
        "atlas",
        "/fr/wiki/Île_de_Brume",
        "fr",
        "Île de Brume",
        (_I, _I),
        SHORT,
        slots=(("feature", "L’Île de Brume"),),
    ),
    Row(
        "atlas",
        "/de/wiki/Kalkberg_(Nordufer)",
        "de",
        "Kalkberg (Nordufer)",
        (_I,) * 3,
        SHORT,
        slots=(("feature", "Kalkberg"),),
    ),
    Row(
        "atlas",
        "/es/wiki/Bahía_de_los_Cormoranes",
        "es",
        "Bahía de los Cormoranes",
        (_I, _I),
        SHORT,
        slots=(("feature", "Bahía de los Cormoranes"),),
    ),
)

# After this many pages the damaged record goes in, so good records follow it.
CORRUPT_AFTER = 12
