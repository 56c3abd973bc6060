"""Clinician pages: the explained assessment (/assessments/{id}) and the rulebook (/rulebook).

Server-rendered HTML with Jinja2 (autoescape on), one CSS file, inline SVG, no JavaScript and no
request to any outside host, so the pages work offline and inside hospital networks.
"""

from .rulebook import export_rulebook, render_rulebook
from .views import render_assessment

__all__ = ["export_rulebook", "render_assessment", "render_rulebook"]
