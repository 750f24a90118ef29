"""Merge Link as the end user sees it: a page an operator can open from ``magic_link_url``.

On Merge, ``magic_link_url`` opens Merge Link in a browser, where the end user signs in to the
third party again. The sandbox's page is one button: ``GET /_sandbox/link/<link_token>`` shows
what is being (re)linked, and ``POST`` to the same address completes it exactly as
``/_sandbox/link/complete`` does (``complete_link``: a relink makes the account COMPLETE,
resolves its issues and fires ``LinkedAccount.linked`` with ``is_relink``). A GET never
completes a link: browsers and chat previews fetch links on their own.
"""

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from merge_sandbox.state import LinkRequest, Sandbox
from merge_sandbox.sync import complete_link

LINK_PAGE_PREFIX = "/_sandbox/link/"
#: records a newly linked account starts with (a relink keeps the account's own)
NEW_ACCOUNT_RECORDS = 200


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title></head>"
        "<body style='font-family: sans-serif; max-width: 36em; margin: 3em auto'>"
        f"<h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status)


def _unknown() -> HTMLResponse:
    return _page(
        "Link expired",
        "<p>This link is unknown or was already used. Ask for a new one.</p>",
        404,
    )


def _describe(sandbox: Sandbox, link: LinkRequest) -> str:
    account = sandbox.accounts.get(link.relink_account_id or "")
    if account is None:
        return (
            f"<p>Connect <b>{escape(link.end_user_organization_name)}</b>'s "
            f"{escape(link.category)} system to Merge.</p>"
        )
    return (
        f"<p><b>{escape(account.end_user_organization_name)}</b>: reconnect "
        f"{escape(account.integration.name)} ({escape(account.category)}), linked account "
        f"<code>{escape(account.id)}</code>, now {escape(account.status)}.</p>"
    )


def link_page_routes(sandbox: Sandbox) -> list[Route]:
    """The GET (show) and POST (complete) routes of the end user's link page."""

    async def show(request: Request) -> HTMLResponse:
        link = sandbox.link_requests.get(request.path_params["link_token"])
        if link is None:
            return _unknown()
        action = "Reconnect" if link.relink_account_id in sandbox.accounts else "Connect"
        form = (
            "<form method='post'><button type='submit' style='font-size: 1.2em'>"
            f"{action} (as the end user)</button></form>"
        )
        return _page(f"Merge Link (sandbox): {action.lower()}", _describe(sandbox, link) + form)

    async def complete(request: Request) -> HTMLResponse:
        link = sandbox.link_requests.get(request.path_params["link_token"])
        if link is None:
            return _unknown()
        account, _public_token, relink = complete_link(sandbox, link, NEW_ACCOUNT_RECORDS)
        what = "relinked" if relink else "linked"
        return _page(
            f"Account {what}",
            f"<p>Linked account <code>{escape(account.id)}</code> is {what} and "
            f"{escape(account.status)}. Merge has sent the <code>LinkedAccount.linked</code> "
            "webhook; you can close this tab.</p>",
        )

    path = LINK_PAGE_PREFIX + "{link_token}"
    return [Route(path, show, methods=["GET"]), Route(path, complete, methods=["POST"])]


def link_page_url(root: str, link_token: str) -> str:
    """The page's address under the sandbox's ``root`` (``http://host:port``)."""
    return root.rstrip("/") + LINK_PAGE_PREFIX + link_token
