"""Third-party integrations a linked account can be connected to, per category.

Display names and slugs are illustrative; Merge's catalogue of integrations is not part of the
reference, only the shape of the objects describing them.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Integration:
    name: str
    slug: str
    color: str


INTEGRATIONS: dict[str, tuple[Integration, ...]] = {
    "hris": (
        Integration("BambooHR", "bamboohr", "#73C41D"),
        Integration("Workday", "workday", "#F5A623"),
    ),
    "ats": (
        Integration("Greenhouse", "greenhouse", "#24A47F"),
        Integration("Lever", "lever", "#3C4048"),
    ),
    "crm": (
        Integration("Salesforce", "salesforce", "#00A1E0"),
        Integration("HubSpot", "hubspot", "#FF7A59"),
    ),
    "accounting": (
        Integration("QuickBooks Online", "quickbooks-online", "#2CA01C"),
        Integration("Xero", "xero", "#13B5EA"),
    ),
    "ticketing": (
        Integration("Jira", "jira", "#0052CC"),
        Integration("Zendesk", "zendesk", "#03363D"),
    ),
    "filestorage": (
        Integration("Google Drive", "google-drive", "#1FA463"),
        Integration("Dropbox", "dropbox", "#0061FF"),
    ),
    "knowledgebase": (
        Integration("Confluence", "confluence", "#172B4D"),
        Integration("Notion", "notion", "#000000"),
    ),
    "chat": (
        Integration("Slack", "slack", "#4A154B"),
        Integration("Microsoft Teams", "microsoft-teams", "#6264A7"),
    ),
    "calendar": (
        Integration("Google Calendar", "google-calendar", "#4285F4"),
        Integration("Outlook Calendar", "outlook-calendar", "#0078D4"),
    ),
    "email": (
        Integration("Gmail", "gmail", "#EA4335"),
        Integration("Outlook", "outlook", "#0078D4"),
    ),
}


def integration_for(category: str, slug: str | None = None, index: int = 0) -> Integration:
    """The integration with ``slug`` in ``category`` (or the ``index``-th one)."""
    options = INTEGRATIONS[category]
    for option in options:
        if option.slug == slug:
            return option
    return options[index % len(options)]


def image_url(integration: Integration, square: bool = False) -> str:
    kind = "square" if square else "logo"
    return f"https://merge-api-production.s3.amazonaws.com/media/{integration.slug}-{kind}.png"
