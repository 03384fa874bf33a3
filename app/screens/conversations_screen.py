"""A project's past conversations: search, open, rename, delete.

Like the chat apps people like, yesterday's conversation is one key away: the
list shows each conversation's title (its first question, or the name given
it), when it was last used and how many questions it holds. Opening one
dismisses the screen with its uuid; the app shows its earlier turns and
continues it under that uuid, so the engine's history continues too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from protocol.projects import ConversationSummary
from widgets.project_browser import format_created

Page = tuple[list[ConversationSummary], int | None]
ListPage = Callable[[str, int], Awaitable[Page]]
"""(search words, offset) -> a page of conversations and the next page's offset."""
Rename = Callable[[str, str], Awaitable[None]]
Delete = Callable[[str], Awaitable[None]]

MORE = "\x00more"  # option id of the "more…" row; uuids cannot hold control characters


class ConversationsScreen(ModalScreen[str | None]):
    """Dismisses with the uuid to open, or None."""

    BINDINGS = [  # noqa: RUF012 - Textual reads this class attribute
        Binding("escape", "close", "Close", id="conversations.close"),
        Binding("f2", "rename", "Rename", id="conversations.rename"),
        Binding("down", "to_list", "List", id="conversations.to_list", show=False),
        Binding("delete", "delete", "Delete", id="conversations.delete"),
    ]

    def __init__(self, project: str, list_page: ListPage, rename: Rename, delete: Delete) -> None:
        super().__init__()
        self.project = project
        self._list_page = list_page
        self._rename = rename
        self._delete = delete
        self._shown: list[ConversationSummary] = []
        self._next: int | None = None
        self._renaming: str | None = None
        self._armed_delete: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog conversations-dialog") as dialog:
            dialog.border_title = f"Conversations with {self.project}"
            yield Input(placeholder="Search titles and words said…", id="conversation-search")
            yield OptionList(id="conversation-list")
            yield Input(placeholder="New title, then Enter", id="conversation-title")
            yield Static("", id="conversation-note", markup=False)
            yield Label(
                "enter open · f2 rename · delete remove (twice, in the list) · esc close",
                classes="dialog-help",
            )

    def on_mount(self) -> None:
        self.query_one("#conversation-title", Input).display = False
        self.query_one("#conversation-search", Input).focus()
        self.reload()

    @property
    def options(self) -> OptionList:
        return self.query_one("#conversation-list", OptionList)

    def note(self, text: str) -> None:
        self.query_one("#conversation-note", Static).update(text)

    @on(Input.Changed, "#conversation-search")
    def _search(self) -> None:
        self.reload()

    @work(exclusive=True, group="conversations")
    async def reload(self, *, more: bool = False) -> None:
        words = self.query_one("#conversation-search", Input).value.strip()
        offset = self._next if more and self._next is not None else 0
        try:
            page, self._next = await self._list_page(words, offset)
        except Exception as exc:  # the engine may be down: say so here
            self.note(f"Could not list conversations: {exc}")
            return
        self._shown = [*self._shown, *page] if more else page
        self._draw()

    def _draw(self) -> None:
        options = self.options
        options.clear_options()
        for item in self._shown:
            when = format_created(item.updated_at)
            asked = f"{item.questions} question{'s' if item.questions != 1 else ''}"
            options.add_option(Option(f"{item.title}\n  {when} · {asked}", id=item.uuid))
        if self._next is not None:
            options.add_option(Option("more…", id=MORE))
        if not self._shown:
            self.note("No conversations yet." if not self._search_words else "Nothing matches.")
        else:
            self.note("")
            if options.highlighted is None:
                options.highlighted = 0  # f2 and delete act on it at once

    @property
    def _search_words(self) -> str:
        return self.query_one("#conversation-search", Input).value.strip()

    @on(Input.Submitted, "#conversation-search")
    def action_to_list(self) -> None:
        """Enter or down in the search box moves to the list."""
        self.options.focus()

    @on(OptionList.OptionSelected, "#conversation-list")
    def _open(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == MORE:
            self.reload(more=True)
        elif event.option.id is not None:
            self.dismiss(event.option.id)

    def _highlighted(self) -> ConversationSummary | None:
        index = self.options.highlighted
        if index is None or index >= len(self._shown):
            self.note("Pick a conversation first (arrow keys).")
            return None
        return self._shown[index]

    def action_rename(self) -> None:
        if (item := self._highlighted()) is None:
            return
        self._renaming = item.uuid
        title = self.query_one("#conversation-title", Input)
        title.value, title.display = item.title, True
        title.focus()

    @on(Input.Submitted, "#conversation-title")
    async def _save_title(self, event: Input.Submitted) -> None:
        uuid, self._renaming = self._renaming, None
        event.input.display = False
        if uuid is None or not event.value.strip():
            return
        try:
            await self._rename(uuid, event.value.strip())
        except Exception as exc:
            self.note(f"Not renamed: {exc}")
            return
        self.options.focus()
        self.reload()

    async def action_delete(self) -> None:
        if (item := self._highlighted()) is None:
            return
        if self._armed_delete != item.uuid:
            self._armed_delete = item.uuid
            self.note(f"Press delete again to remove “{item.title}” and its history.")
            return
        self._armed_delete = None
        try:
            await self._delete(item.uuid)
        except Exception as exc:
            self.note(f"Not deleted: {exc}")
            return
        self.note(f"Deleted “{item.title}”.")
        self.reload()

    def action_close(self) -> None:
        if self._renaming is not None:
            self._renaming = None
            self.query_one("#conversation-title", Input).display = False
            self.options.focus()
            return
        self.dismiss(None)
