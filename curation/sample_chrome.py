"""Site chrome of the sample crawl: headers, navigation, ads, comments, footers, pixels.

The pieces every layout (sample_layouts.py) puts around a page's content. A
`PageWriter` records each decoy image URL it places (absolute, resolved as a browser
would) and each boilerplate string it writes, so the manifest can say what an
extractor must leave out.
"""

from __future__ import annotations

import html
import posixpath
import random
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

TRACKER = "https://track.pixel.example/p.gif"
ADS = "https://ads.adnet.example"


@dataclass(frozen=True)
class Site:
    """One fictional web site of the sample crawl."""

    key: str
    host: str
    name: str
    layout: str
    image_origin: str  # where its content images live, e.g. "https://cdn.harbor.example"
    nav: tuple[str, ...]
    footer: str  # site-specific footer line (a boilerplate snippet)

    @property
    def origin(self) -> str:
        return f"https://{self.host}"


@dataclass(frozen=True)
class PageView:
    """Everything a layout needs to render one page."""

    site: Site
    url: str
    lang: str
    title: str
    paragraphs: tuple[str, ...]
    figures: tuple[str, ...]  # content image markup, in the DOM order the manifest lists
    comments: tuple[tuple[str, str], ...] = ()  # (author, text)
    key: str = ""  # seeds the layout's own choices (figure positions)
    base_href: str | None = None
    meta: str = '<meta charset="utf-8">'  # "" when the page declares no charset
    footer: str = ""  # overrides site.footer (localised pages)
    items: tuple[str, ...] = ()  # a recipe's ingredient list


@dataclass
class Rendered:
    """A rendered page and what it holds besides the content."""

    html: str
    decoys: list[str] = field(default_factory=list)
    boilerplate: list[str] = field(default_factory=list)


def url_ref(absolute: str, base: str, form: str) -> str:
    """How a page at `base` refers to `absolute`: "abs", "proto" (//host/…), "root" (/…)
    or "rel" (../…). Checked: resolving the reference gives back `absolute`."""
    parts = urlsplit(absolute)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if form == "abs":
        ref = absolute
    elif form == "proto":
        ref = f"//{parts.netloc}{path}"
    elif form == "root":
        ref = path
    elif form == "rel":
        base_dir = posixpath.dirname(urlsplit(base).path) or "/"
        ref = posixpath.relpath(parts.path, base_dir) + (f"?{parts.query}" if parts.query else "")
    else:
        raise ValueError(f"unknown URL form {form!r}")
    if urljoin(base, ref) != absolute:
        raise ValueError(f"{ref!r} from {base!r} resolves to {urljoin(base, ref)!r}")
    return ref


class PageWriter:
    """Collects decoys and boilerplate while a layout writes a page."""

    def __init__(self, view: PageView) -> None:
        self.view = view
        self.base = view.base_href or view.url
        self.rng = random.Random(f"layout|{view.key}|{view.url}")
        self.out = Rendered(html="")

    def decoy(self, absolute: str, form: str = "root") -> str:
        """The escaped reference to a decoy image, recorded as one."""
        self.out.decoys.append(absolute)
        return html.escape(url_ref(absolute, self.base, form))

    def boiler(self, text: str) -> str:
        """Escaped boilerplate text, recorded as a snippet that must not survive."""
        self.out.boilerplate.append(text)
        return html.escape(text)

    def site_url(self, path: str) -> str:
        """What a root-relative `path` resolves to here (the <base> host, when there is one)."""
        return urljoin(self.base, path)


def head(page: PageWriter) -> str:
    """Doctype, charset declaration, title, <base>, an analytics script and a style block."""
    v = page.view
    base = f'<base href="{html.escape(v.base_href)}">\n' if v.base_href else ""
    return (
        f'<!DOCTYPE html>\n<html lang="{v.lang}">\n<head>\n{v.meta}\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(v.title)} | {html.escape(v.site.name)}</title>\n{base}"
        '<link rel="icon" href="/favicon.ico">\n<link rel="stylesheet" href="/static/site.css">\n'
        "<script>window.dataLayer = window.dataLayer || [];"
        " dataLayer.push({'event': 'pageview'});</script>\n"
        "<style>.lazyload{opacity:0} .ad-slot{margin:2em 0}</style>\n</head>\n"
    )


def nav(page: PageWriter) -> str:
    """The site's section links."""
    items = "".join(
        f'<li><a href="/{label.lower().replace(" ", "-")}/">{html.escape(label)}</a></li>'
        for label in page.view.site.nav
    )
    return f'<nav class="main-nav"><ul>{items}</ul></nav>\n'


def header(page: PageWriter) -> str:
    """Logo (an SVG decoy) and navigation."""
    site = page.view.site
    logo = page.decoy(page.site_url("/static/logo.svg"))
    return (
        '<header class="site-header">\n'
        f'<a class="brand" href="/"><img class="logo" src="{logo}" alt="{html.escape(site.name)}"'
        ' width="180" height="40"></a>\n' + nav(page) + "</header>\n"
    )


def footer(page: PageWriter) -> str:
    """Footer links and the site's footer line (a boilerplate snippet)."""
    text = page.view.footer or page.view.site.footer
    return (
        '<footer class="site-footer">\n<nav class="footer-links"><a href="/about/">About</a> '
        '<a href="/contact/">Contact</a> <a href="/legal/">Legal notice</a></nav>\n'
        f"<p>{page.boiler(text)}</p>\n</footer>\n"
    )


def pixel(page: PageWriter, noscript: bool = False) -> str:
    """A 1x1 tracking pixel on the tracker host, optionally inside <noscript>."""
    slug = urlsplit(page.view.url).path.strip("/").replace("/", "-") or "home"
    src = page.decoy(f"{TRACKER}?site={page.view.site.key}&page={slug}", form="abs")
    img = f'<img src="{src}" width="1" height="1" alt="" style="display:none">'
    return f"<noscript>{img}</noscript>\n" if noscript else img + "\n"


def ad(page: PageWriter, creative: str, width: int, height: int) -> str:
    """An ad slot: a linked creative on the ad host (stored in the WARC, so only the
    extractor can keep it out)."""
    src = page.decoy(f"{ADS}/creative/{creative}", form="abs")
    return (
        f'<div class="ad-slot advertisement"><span class="ad-label">Advertisement</span>'
        f'<a href="{ADS}/click?c={creative}" rel="sponsored">'
        f'<img src="{src}" width="{width}" height="{height}" alt=""></a></div>\n'
    )


def share(page: PageWriter) -> str:
    """Share buttons: 24 px SVG icons."""
    icons = "".join(
        f'<a href="https://social.example/share?u={html.escape(page.view.url)}&amp;via={name}">'
        f'<img src="{page.decoy(page.site_url(f"/static/icons/share-{name}.svg"))}"'
        f' width="24" height="24" alt="Share on {name}"></a>'
        for name in ("mastodon", "mail", "print")
    )
    return f'<div class="share-bar">{icons}</div>\n'


def comments(page: PageWriter, heading: str) -> str:
    """Reader comments with avatars and a reply form; the first comment is a snippet."""
    items = []
    for i, (author, text) in enumerate(page.view.comments):
        avatar = page.decoy(page.site_url(f"/avatars/{author.lower()}.png"))
        body = page.boiler(text) if i == 0 else html.escape(text)
        items.append(
            f'<li class="comment"><img class="avatar" src="{avatar}" width="64" height="64"'
            f' alt=""><div class="comment-meta"><b>{html.escape(author)}</b>'
            f'</div><p>{body}</p><a class="reply" href="#reply">Reply</a></li>'
        )
    return (
        f'<section id="comments" class="comments">\n<h2>{html.escape(heading)}</h2>\n'
        f'<ol class="comment-list">{"".join(items)}</ol>\n'
        '<form class="comment-form" action="/comment" method="post">'
        '<textarea name="body" placeholder="Join the discussion"></textarea>'
        "<button>Post comment</button></form>\n</section>\n"
    )


def interleave(page: PageWriter) -> list[str]:
    """<p> blocks with the figures in between (never before the first), in figure order."""
    paragraphs, figures = page.view.paragraphs, page.view.figures
    gaps = sorted(page.rng.randint(min(1, len(paragraphs)), len(paragraphs)) for _ in figures)
    blocks: list[str] = []
    queue = list(zip(gaps, figures, strict=True))
    for i in range(len(paragraphs) + 1):
        while queue and queue[0][0] == i:
            blocks.append(queue.pop(0)[1])
        if i < len(paragraphs):
            blocks.append(f"<p>{html.escape(paragraphs[i])}</p>")
    return blocks


SITES: dict[str, Site] = {
    s.key: s
    for s in (
        Site(
            "harbor",
            "news.harbor.example",
            "Harbor News",
            "news",
            "https://cdn.harbor.example",
            ("Local", "Sea and Shipping", "Weather", "Sport", "Opinion"),
            "© 2024 Harbor News Ltd, 12 Quay Street. All rights reserved.",
        ),
        Site(
            "fernweh",
            "blog.fernweh.example",
            "Fernweh Notes",
            "blog",
            "https://blog.fernweh.example",
            ("Home", "Trips", "Gear", "About"),
            "Fernweh Notes is written by one slow traveller. Words and pictures © 2024.",
        ),
        Site(
            "olivetree",
            "kitchen.olivetree.example",
            "The Olive Tree Kitchen",
            "recipe",
            "https://static.olivetree.example",
            ("Recipes", "Soups", "Baking", "Seasonal", "About"),
            "© 2024 The Olive Tree Kitchen. Recipes and photos may not be reused without asking.",
        ),
        Site(
            "spokes",
            "forum.spokes.example",
            "Spokes Forum",
            "forum",
            "https://forum.spokes.example",
            ("Forums", "Members", "Search", "Rules"),
            "Spokes Forum runs on donations from its members. Powered by TalkBoard 3.",
        ),
        Site(
            "lumen",
            "shop.lumen.example",
            "Lumen Outdoor",
            "product",
            "https://media.lumen.example",
            ("Lanterns", "Head torches", "Cookware", "Sale"),
            "Lumen Outdoor · Free delivery on orders over €50 · Returns within 30 days",
        ),
        Site(
            "atlas",
            "wiki.atlas.example",
            "Atlas Wiki",
            "wiki",
            "https://upload.atlas.example",
            ("Main page", "Random article", "Recent changes", "Help"),
            "This page was last edited on 2 March 2024, at 10:14. Text is under a free licence.",
        ),
    )
}

# Footers of the localised pages, by (site, language).
LOCAL_FOOTERS = {
    (
        "fernweh",
        "de",
    ): "Fernweh Notes: langsam reisen mit Bahn, Fähre und zu Fuß. Alle Rechte vorbehalten.",
    ("fernweh", "ja"): "フェルンヴェー・ノート 無断転載を禁じます。",
    ("olivetree", "es"): "© 2024 The Olive Tree Kitchen. Todos los derechos reservados.",
    ("olivetree", "fr"): "© 2024 The Olive Tree Kitchen. Tous droits réservés.",
    ("lumen", "fr"): "Lumen Outdoor · Livraison offerte dès 50 € · Retours sous 30 jours",
    ("atlas", "fr"): "Dernière modification de cette page le 2 mars 2024 à 10:14.",
    ("atlas", "de"): "Diese Seite wurde zuletzt am 2. März 2024 um 10:14 Uhr bearbeitet.",
    ("atlas", "es"): "Esta página se editó por última vez el 2 mar 2024 a las 10:14.",
}

UI: dict[str, dict[str, str | tuple[str, ...]]] = {
    "en": {
        "comments": "Comments",
        "reviews": "Reviews",
        "jump": "Jump to recipe",
        "ingredients": "Ingredients",
        "method": "Method",
        "basket": "Add to basket",
        "description": "Description",
        "also_like": "You may also like these products",
        "gallery": "Gallery",
        "coordinates": "Coordinates",
        "contents": "Contents",
        "site_sub": "From Atlas Wiki, the free atlas of imaginary places",
        "visitors": "Visitors per year",
        "year": "Year",
        "count": "Visitors",
        "sections": ("History", "Geography", "Wildlife", "Access"),
    },
    "fr": {
        "comments": "Commentaires",
        "reviews": "Avis clients",
        "jump": "Aller à la recette",
        "ingredients": "Ingrédients",
        "method": "Préparation",
        "basket": "Ajouter au panier",
        "description": "Description",
        "also_like": "Vous aimerez aussi ces produits",
        "gallery": "Galerie",
        "coordinates": "Coordonnées",
        "contents": "Sommaire",
        "site_sub": "Un article d’Atlas Wiki, l’atlas libre des lieux imaginaires",
        "visitors": "Visiteurs par an",
        "year": "Année",
        "count": "Visiteurs",
        "sections": ("Histoire", "Géographie", "Faune et flore", "Accès"),
    },
    "de": {
        "comments": "Kommentare",
        "reviews": "Bewertungen",
        "jump": "Zum Rezept",
        "ingredients": "Zutaten",
        "method": "Zubereitung",
        "basket": "In den Warenkorb",
        "description": "Beschreibung",
        "also_like": "Das könnte Ihnen auch gefallen",
        "gallery": "Galerie",
        "coordinates": "Koordinaten",
        "contents": "Inhaltsverzeichnis",
        "site_sub": "Aus Atlas Wiki, dem freien Atlas erfundener Orte",
        "visitors": "Besucher pro Jahr",
        "year": "Jahr",
        "count": "Besucher",
        "sections": ("Geschichte", "Geographie", "Natur", "Zugang"),
    },
    "es": {
        "comments": "Comentarios",
        "reviews": "Opiniones",
        "jump": "Ir a la receta",
        "ingredients": "Ingredientes",
        "method": "Preparación",
        "basket": "Añadir a la cesta",
        "description": "Descripción",
        "also_like": "También te puede interesar",
        "gallery": "Galería",
        "coordinates": "Coordenadas",
        "contents": "Índice",
        "site_sub": "De Atlas Wiki, el atlas libre de lugares imaginarios",
        "visitors": "Visitantes por año",
        "year": "Año",
        "count": "Visitantes",
        "sections": ("Historia", "Geografía", "Fauna", "Acceso"),
    },
    "ja": {"comments": "コメント"},
}

# News "related stories" links, blog sidebar blurbs, wiki navboxes: boilerplate snippets.
RELATED = {
    "harbor": (
        "Harbour dues to rise by a tenth next year",
        "Lifeboat crew called out twice in one night",
        "Letters: the bus timetable is a mystery to us all",
    )
}
SIDEBAR = {"fernweh": "Hi, I'm Lena. I write about slow travel by train, by ferry and on foot."}
NAVBOX = {
    "en": "Coastal features of Westmarch: Saltmere Lighthouse · Grey Heron Estuary · Tidal Mill",
    "fr": "Îles et côtes du Pays de Brume : Île de Brume · Pointe aux Phoques",
    "de": "Berge und Hügel am Nordufer: Kalkberg · Kranichhöhe · Weißer Stein",
    "es": "Bahías y cabos de la Tierra de Cabos: Bahía de los Cormoranes · Cabo Sur",
}
# Forum members: (name, joined, post count, signature).
FORUM_USERS = (
    ("gearhead_71", "March 2019", "1,204", "-- Ride more, worry less."),
    ("Mara_K", "June 2021", "88", "Two wheels good, four wheels slow."),
    ("oldtourer", "January 2014", "5,310", "Currently restoring: a 1984 Dawes tourer"),
    ("pedalpusher", "August 2022", "47", "Commuting since the last century."),
    ("wrenchwench", "May 2017", "912", "If it isn't broken, you haven't ridden it enough."),
)
