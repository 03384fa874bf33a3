"""The project browser pane: projects, their versions, and what each holds.

It shows data and reports what the user picked; fetching projects and
connecting is the app's job, so this widget never touches the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label, Static, Tree
from textual.widgets.tree import TreeNode

from protocol.projects import ProjectVersion


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    """A project and all its versions (any order)."""

    name: str
    versions: tuple[ProjectVersion, ...] = ()

    @property
    def latest(self) -> int | None:
        return max((v.version for v in self.versions), default=None)


@dataclass(frozen=True, slots=True)
class Selection:
    """What a tree node stands for: a project, or one version of it."""

    project: str
    version: int | None = None


def format_created(created_at: datetime | str) -> str:
    """A time (or ISO-8601 text) as local ``YYYY-MM-DD HH:MM``; unparseable text as is."""
    if isinstance(created_at, datetime):
        moment = created_at
    else:
        try:
            moment = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
        except ValueError:
            return created_at
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")


class ProjectTree(Tree[Selection], inherit_bindings=False):
    """A tree whose `space` is left free for the app's skip-agent key.

    Textual reads ``inherit_bindings`` only as a class keyword: as a plain class
    attribute the Tree's own ``space -> toggle_node`` won and folded the tree.
    """

    BINDINGS = [  # noqa: RUF012 - Textual reads this class attribute
        Binding("enter", "select_cursor", "Connect", show=False),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("left", "collapse_or_parent", "Collapse", show=False),
        Binding("right", "expand_node", "Expand", show=False),
        Binding("home", "scroll_home", "Top", show=False),
        Binding("end", "scroll_end", "Bottom", show=False),
    ]

    def action_expand_node(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand:
            node.expand()

    def action_collapse_or_parent(self) -> None:
        """Fold an open project; on a version (or a folded project), go to the parent."""
        node = self.cursor_node
        if node is not None and node.allow_expand and node.is_expanded:
            node.collapse()
        else:
            self.action_cursor_parent()


class ProjectBrowser(Vertical):
    """Projects with their versions; Enter on a node asks to connect to it."""

    BORDER_TITLE = "Projects"

    class ConnectRequested(Message):
        """The user chose a project (version None = latest) to talk to."""

        def __init__(self, project: str, version: int | None) -> None:
            super().__init__()
            self.project = project
            self.version = version

    class Highlighted(Message):
        """The cursor moved to another project or version."""

        def __init__(self, selection: Selection | None) -> None:
            super().__init__()
            self.selection = selection

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._projects: dict[str, ProjectInfo] = {}
        self._pending: Selection | None = None

    def compose(self) -> ComposeResult:
        tree: ProjectTree = ProjectTree("projects", id="project-tree")
        tree.show_root = False
        tree.guide_depth = 2
        tree.auto_expand = False  # enter connects; left and right fold and unfold
        yield tree
        yield Label("Loading projects…", id="project-empty")
        yield Static("", id="project-detail")

    @property
    def tree(self) -> ProjectTree:
        return self.query_one(ProjectTree)

    @property
    def projects(self) -> dict[str, ProjectInfo]:
        return dict(self._projects)

    def set_message(self, text: str) -> None:
        """Show a line of explanation instead of (or above) the tree."""
        label = self.query_one("#project-empty", Label)
        label.update(text)
        label.display = bool(text)

    def set_projects(
        self, projects: Sequence[ProjectInfo], *, select: Selection | None = None
    ) -> None:
        """Replace the listing, keeping the cursor on ``select`` (or where it was)."""
        keep = select or self.selection
        self._projects = {p.name: p for p in projects}
        tree = self.tree
        tree.clear()
        target: TreeNode[Selection] | None = None
        for project in sorted(projects, key=lambda p: p.name.lower()):
            count = len(project.versions)
            noun = "version" if count == 1 else "versions"
            node = tree.root.add(
                f"{project.name}  ({count} {noun})",
                data=Selection(project.name),
                expand=keep is not None and keep.project == project.name,
            )
            if keep is not None and keep.project == project.name and keep.version is None:
                target = node
            for info in sorted(project.versions, key=lambda v: v.version, reverse=True):
                marker = "  ★ latest" if info.version == project.latest else ""
                leaf = node.add_leaf(
                    f"v{info.version}  {format_created(info.created_at)}{marker}",
                    data=Selection(project.name, info.version),
                )
                if keep is not None and keep == Selection(project.name, info.version):
                    target = leaf
        if not projects:
            self.set_message("No projects yet. Press ctrl+n to create one.")
        else:
            self.set_message("")
        if target is None and tree.root.children:
            target = tree.root.children[0]
        if target is not None:
            self._move_to(target)

    def _move_to(self, node: TreeNode[Selection]) -> None:
        """Put the cursor on ``node`` once the tree has laid out its lines.

        A freshly added node has no line number until the tree refreshes, so
        the move is deferred; `selection` reports the target meanwhile.
        """
        self._pending = node.data
        self._show_detail(node.data)

        def move() -> None:
            if self._pending == node.data:
                self._pending = None
            self.tree.move_cursor(node)

        self.tree.call_after_refresh(move)

    @property
    def selection(self) -> Selection | None:
        if self._pending is not None:
            return self._pending
        node = self.tree.cursor_node if self.is_mounted else None
        return node.data if node is not None else None

    def select(self, project: str, version: int | None = None) -> bool:
        """Move the cursor to a project or version; False if it is not listed."""
        for node in self.tree.root.children:
            if node.data is None or node.data.project != project:
                continue
            if version is None:
                self._move_to(node)
                return True
            node.expand()
            for leaf in node.children:
                if leaf.data is not None and leaf.data.version == version:
                    self._move_to(leaf)
                    return True
        return False

    def version_info(self, selection: Selection | None) -> ProjectVersion | None:
        """The version a selection means (a project alone means its latest)."""
        if selection is None or selection.project not in self._projects:
            return None
        project = self._projects[selection.project]
        wanted = selection.version if selection.version is not None else project.latest
        return next((v for v in project.versions if v.version == wanted), None)

    def _show_detail(self, selection: Selection | None) -> None:
        detail = self.query_one("#project-detail", Static)
        info = self.version_info(selection)
        if selection is None or info is None:
            detail.update("")
            return
        project = self._projects[selection.project]
        latest = " (latest)" if info.version == project.latest else ""
        agents = ", ".join(info.workers) if info.workers else "—"
        flows = "".join(f"flow {name}: {' → '.join(steps)}\n" for name, steps in info.flows)
        speech = "voice" if info.speech else "text"
        detail.update(
            f"{selection.project} v{info.version}{latest}\n"
            f"created {format_created(info.created_at)}\n"
            f"agents: {agents}\n"
            f"{flows}"
            f"mode: {speech}\n"
            "enter connect · c config · d diff"
        )

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Selection]) -> None:
        event.stop()
        if self._pending is not None and event.node.data != self._pending:
            return  # an intermediate cursor position while a move is pending
        self._show_detail(event.node.data)
        self.post_message(self.Highlighted(event.node.data))

    def on_tree_node_selected(self, event: Tree.NodeSelected[Selection]) -> None:
        event.stop()
        data = event.node.data
        if data is not None:
            self.post_message(self.ConnectRequested(data.project, data.version))
