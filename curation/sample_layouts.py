"""HTML page layouts of the sample crawl: news, blog, recipe, forum, product, wiki, wall.

Each layout wraps a page's prose and its content images (already rendered as markup, in
the DOM order the manifest lists) in the chrome of sample_chrome.py.
"""

from __future__ import annotations

import html
from dataclasses import replace

from curation import sample_chrome as c
from curation.sample_chrome import (
    ADS,
    FORUM_USERS,
    NAVBOX,
    RELATED,
    SIDEBAR,
    UI,
    PageView,
    PageWriter,
    Rendered,
)


def news(view: PageView) -> Rendered:
    """A news article: logo, nav, share buttons, an in-story ad, related links, comments."""
    page = PageWriter(view)
    blocks = c.interleave(page)
    blocks.insert(min(3, len(blocks)), c.ad(page, "300x250-ferry.jpg", 300, 250))
    related = "".join(
        f'<li><a href="/2024/02/{i}/">{page.boiler(t) if i == 0 else html.escape(t)}</a></li>'
        for i, t in enumerate(RELATED[view.site.key])
    )
    old_banner = page.decoy(page.site_url("/static/img/old-banner.jpg"))
    page.out.html = (
        c.head(page)
        + '<body class="article-page">\n'
        + c.header(page)
        + f'<!-- old banner, kept for reference: <img src="{old_banner}"> -->\n'
        + f'<main id="content">\n<article class="story">\n<h1>{html.escape(view.title)}</h1>\n'
        + '<p class="byline">By Staff Reporter &middot; <time datetime="2024-03-14">'
        + "14 March 2024</time></p>\n"
        + c.share(page)
        + '<div class="story-body">\n'
        + "\n".join(blocks)
        + "\n</div>\n</article>\n"
        + f'<section class="related-stories"><h2>Related stories</h2><ul>{related}</ul>'
        + "</section>\n"
        + (c.comments(page, f"{len(view.comments)} comments") if view.comments else "")
        + "</main>\n"
        + c.footer(page)
        + c.pixel(page)
        + f'<script async src="{ADS}/loader.js"></script>\n</body>\n</html>\n'
    )
    return page.out


def blog(view: PageView) -> Rendered:
    """A blog post with a sidebar (author photo, newsletter box, ad, tags) and comments."""
    page = PageWriter(view)
    about_img = page.decoy(page.site_url("/images/about-me.jpg"))
    blurb = SIDEBAR[view.site.key]
    sidebar = (
        '<aside class="sidebar">\n<section class="about">'
        f'<img src="{about_img}" width="160" height="160" alt="Portrait of the author">'
        f"<p>{page.boiler(blurb)}</p></section>\n"
        '<section class="newsletter"><h3>Newsletter</h3><form><input type="email" '
        'placeholder="you@example.org"><button>Subscribe</button></form></section>\n'
        + c.ad(page, "300x250-rail.jpg", 300, 250)
        + '<section class="tags"><a href="/tag/trains/">trains</a> <a href="/tag/walks/">'
        'walks</a> <a href="/tag/islands/">islands</a></section>\n</aside>\n'
    )
    hero_script = (
        "<script>var promo = '<img src=\"/images/promo-banner.jpg\">';"
        " document.addEventListener('DOMContentLoaded', function () {});</script>\n"
    )
    page.out.html = (
        c.head(page)
        + "<body>\n"
        + c.header(page)
        + '<div class="layout">\n<main>\n<article class="post">\n'
        + f'<h1 class="entry-title">{html.escape(view.title)}</h1>\n'
        + '<div class="entry-meta">Posted on <time>2 March 2024</time> in Trips</div>\n'
        + '<div class="entry-content">\n'
        + "\n".join(c.interleave(page))
        + "\n</div>\n</article>\n"
        + (c.comments(page, UI[view.lang]["comments"]) if view.comments else "")
        + "</main>\n"
        + sidebar
        + "</div>\n"
        + hero_script
        + c.footer(page)
        + c.pixel(page, noscript=True)
        + "</body>\n</html>\n"
    )
    return page.out


def recipe(view: PageView) -> Rendered:
    """A recipe: rating stars, jump link, intro, in-content ad, ingredients, method, reviews."""
    page = PageWriter(view)
    ui = UI[view.lang]
    star = page.decoy(page.site_url("/static/icons/star.svg"))
    stars = "".join(f'<img src="{star}" width="16" height="16" alt="*">' for _ in range(5))
    n_intro = max(1, len(view.paragraphs) // 2)
    blocks = c.interleave(page)
    # The method is an ordered list; figures that fall there sit inside the list items.
    intro: list[str] = []
    method: list[str] = []
    seen = 0
    for block in blocks:
        target = intro if seen < n_intro else method
        if block.startswith("<p>"):
            seen += 1
        target.append(block)
    method_items = "".join(f"<li>{b}</li>" for b in method)
    ingredients = "".join(f"<li>{html.escape(x)}</li>" for x in view.items)
    page.out.html = (
        c.head(page)
        + "<body>\n"
        + c.header(page)
        + '<main>\n<article class="recipe" itemscope itemtype="https://schema.org/Recipe">\n'
        + f'<h1 itemprop="name">{html.escape(view.title)}</h1>\n'
        + f'<div class="rating">{stars} <span>4.8 (112)</span></div>\n'
        + f'<a class="jump" href="#recipe-card">{html.escape(ui["jump"])}</a>\n'
        + '<div class="intro">\n'
        + "\n".join(intro)
        + "\n</div>\n"
        + c.ad(page, "728x90-kitchen.jpg", 728, 90)
        + f'<section id="recipe-card">\n<h2>{html.escape(ui["ingredients"])}</h2>\n'
        + f"<ul>{ingredients}</ul>\n<h2>{html.escape(ui['method'])}</h2>\n"
        + f"<ol>{method_items}</ol>\n</section>\n</article>\n"
        + (c.comments(page, ui["comments"]) if view.comments else "")
        + "</main>\n"
        + c.footer(page)
        + c.pixel(page)
        + "</body>\n</html>\n"
    )
    return page.out


def forum(view: PageView) -> Rendered:
    """A forum thread: breadcrumbs, posts with author panels, signatures and action links."""
    page = PageWriter(view)
    blocks = c.interleave(page)
    n_posts = min(sum(b.startswith("<p>") for b in blocks), page.rng.randint(3, 5))
    posts: list[list[str]] = [[] for _ in range(n_posts)]
    per_post = -(-sum(b.startswith("<p>") for b in blocks) // n_posts)  # ceiling
    seen = 0
    for block in blocks:
        posts[min(seen // per_post, n_posts - 1)].append(block)
        seen += block.startswith("<p>")
    spacer = page.decoy(page.site_url("/static/img/spacer.gif"))
    items = [_forum_post(page, i, body, spacer) for i, body in enumerate(posts)]
    crumbs = '<a href="/">Forum index</a> &rsaquo; <a href="/c/maintenance/">Maintenance</a>'
    page.out.html = (
        c.head(page)
        + "<body>\n"
        + c.header(page)
        + f'<div class="breadcrumbs">{crumbs}</div>\n<main id="forum">\n'
        + f'<h1 class="thread-title">{html.escape(view.title)}</h1>\n'
        + '<div class="posts">\n'
        + "\n".join(items)
        + "\n</div>\n"
        + '<div class="pagination">Page 1 of 1</div>\n'
        + '<form class="quick-reply"><textarea name="message"></textarea>'
        + "<button>Post reply</button></form>\n</main>\n"
        + c.footer(page)
        + c.pixel(page)
        + "</body>\n</html>\n"
    )
    return page.out


def _forum_post(page: PageWriter, i: int, body: list[str], spacer: str) -> str:
    user, joined, posts, signature = FORUM_USERS[i % len(FORUM_USERS)]
    avatar = page.decoy(page.site_url(f"/avatars/{user.lower()}.png"))
    stats = f"Joined: {joined} · Posts: {posts}"
    stats_html, sig_html = (
        (page.boiler(stats), page.boiler(signature))
        if i == 0
        else (html.escape(stats), html.escape(signature))
    )
    return (
        f'<article class="post" id="p{i + 1}">\n<div class="post-author">'
        f'<img class="avatar" src="{avatar}" width="64" height="64" alt="{user}">'
        f'<span class="username">{user}</span><span class="user-stats">{stats_html}</span>'
        f'</div>\n<div class="post-content">\n' + "\n".join(body) + "\n</div>\n"
        f'<img src="{spacer}" width="1" height="10" alt="">'
        f'<div class="signature">{sig_html}</div>\n'
        '<div class="post-actions"><a href="#reply">Reply</a> <a href="#quote">Quote</a> '
        '<a href="#report">Report</a></div>\n</article>'
    )


def product(view: PageView) -> Rendered:
    """A product page: image gallery with thumbnails, price, description, specs, reviews,
    and a "you may also like" strip of other products."""
    page = PageWriter(view)
    ui = UI[view.lang]
    origin = view.site.image_origin
    thumbs = "".join(
        f'<li><img src="{page.decoy(f"{origin}/catalog/thumbs/{view.key}-{i}.jpg", "abs")}"'
        ' width="80" height="80" alt=""></li>'
        for i in range(len(view.figures))
    )
    others = "".join(
        f'<li><a href="/products/{name}/">'
        f'<img src="{page.decoy(f"{origin}/catalog/{name}-160.jpg", "abs")}"'
        f' width="160" height="160" alt="{name}"></a></li>'
        for name in ("pocket-stove", "folding-mug")
    )
    description = "\n".join(f"<p>{html.escape(p)}</p>" for p in view.paragraphs)
    page.out.html = (
        c.head(page)
        + "<body>\n"
        + c.header(page)
        + '<main class="product">\n<div class="gallery">\n<div class="gallery-main">\n'
        + "\n".join(view.figures)
        + f'\n</div>\n<ul class="thumbs">{thumbs}</ul>\n</div>\n'
        + f'<div class="product-info">\n<h1>{html.escape(view.title)}</h1>\n'
        + '<p class="price">€49.00</p>\n'
        + f'<button class="add-to-basket">{html.escape(ui["basket"])}</button>\n'
        + f'<div class="description">\n<h2>{html.escape(ui["description"])}</h2>\n'
        + description
        + "\n</div>\n"
        + '<table class="specs"><tr><th>Weight</th><td>180 g</td></tr>'
        + "<tr><th>Battery</th><td>2600 mAh</td></tr></table>\n</div>\n"
        + (c.comments(page, ui["reviews"]) if view.comments else "")
        + '<aside class="recommendations">'
        + f"<h2>{page.boiler(ui['also_like'])}</h2><ul>{others}</ul></aside>\n"
        + "</main>\n"
        + c.footer(page)
        + c.pixel(page)
        + "</body>\n</html>\n"
    )
    return page.out


# Wiki articles put the first figure in the infobox and overflow past this many body
# figures into a gallery at the end, as encyclopaedia pages do.
WIKI_BODY_FIGURES = 4


def wiki(view: PageView) -> Rendered:
    """An encyclopaedia article: side panel, infobox, contents box, sections with edit
    icons, body thumbnails, a data table, a gallery, a navbox and categories."""
    page = PageWriter(view)
    ui = UI[view.lang]
    infobox_fig, rest = (view.figures[0], view.figures[1:]) if view.figures else ("", ())
    body_figs, gallery = rest[:WIKI_BODY_FIGURES], rest[WIKI_BODY_FIGURES:]
    wrapped = tuple(f'<div class="thumb tright">{f}</div>' for f in body_figs)
    page.view = replace(view, figures=wrapped)
    blocks = c.interleave(page)
    edit = page.decoy(page.site_url("/static/icons/edit.svg"))
    # A section heading (with its edit link and pencil icon) before every fourth block.
    for n, i in enumerate(range(2, len(blocks), 4)):
        title = html.escape(ui["sections"][n % len(ui["sections"])])
        blocks[i] = (
            f'<h2>{title} <span class="editsection">[<a href="?action=edit">edit</a>]</span>'
            f'<img src="{edit}" width="16" height="16" alt=""></h2>\n' + blocks[i]
        )
    # A small data table after the second section, as articles on places often have.
    rows = "".join(
        f"<tr><td>{year}</td><td>{page.rng.randrange(2000, 40000, 10)}</td></tr>"
        for year in (2020, 2021, 2022, 2023)
    )
    blocks.insert(
        min(6, len(blocks)),
        f'<table class="wikitable"><caption>{html.escape(ui["visitors"])}</caption>'
        f"<tr><th>{html.escape(ui['year'])}</th><th>{html.escape(ui['count'])}</th></tr>"
        f"{rows}</table>",
    )
    gallery_html = (
        f'<h2>{html.escape(ui["gallery"])}</h2>\n<ul class="gallery">'
        + "".join(f'<li class="gallerybox">{f}</li>' for f in gallery)
        + "</ul>\n"
        if gallery
        else ""
    )
    panel = "".join(
        f'<li><a href="/wiki/{x.replace(" ", "_")}">{html.escape(x)}</a></li>'
        for x in view.site.nav
    )
    page.out.html = (
        c.head(page)
        + '<body class="mediawiki">\n<div id="mw-head">'
        + f'<img src="{page.decoy(page.site_url("/static/images/wiki-logo.svg"))}" alt="">'
        + '<form id="search"><input name="q"></form></div>\n'
        + f'<div id="mw-panel" role="navigation"><ul>{panel}</ul></div>\n'
        + f'<div id="content">\n<h1 id="firstHeading">{html.escape(view.title)}</h1>\n'
        + f'<div id="siteSub">{page.boiler(ui["site_sub"])}</div>\n'
        + f'<table class="infobox"><caption>{html.escape(view.title)}</caption>'
        + f'<tr><td colspan="2">{infobox_fig}</td></tr>'
        + f"<tr><th>{html.escape(ui['coordinates'])}</th><td>51°N 4°W</td></tr></table>\n"
        + f'<div id="toc" class="toc"><h2>{html.escape(ui["contents"])}</h2></div>\n'
        + "\n".join(blocks)
        + "\n"
        + gallery_html
        + '<div class="navbox" role="navigation">'
        + f"{page.boiler(NAVBOX[view.lang])}</div>\n"
        + '<div id="catlinks">Categories: Coasts | Nature reserves</div>\n</div>\n'
        + c.footer(page)
        + c.pixel(page)
        + "</body>\n</html>\n"
    )
    return page.out


def wall(view: PageView) -> Rendered:
    """A bare page (cookie wall, error page): chrome around a heading and a few lines."""
    page = PageWriter(view)
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in view.paragraphs)
    page.out.html = (
        c.head(page)
        + "<body>\n"
        + c.header(page)
        + f"<main>\n<h1>{html.escape(view.title)}</h1>\n{body}\n</main>\n"
        + c.footer(page)
        + "</body>\n</html>\n"
    )
    return page.out


LAYOUTS = {
    "news": news,
    "blog": blog,
    "recipe": recipe,
    "forum": forum,
    "product": product,
    "wiki": wiki,
    "wall": wall,
}
