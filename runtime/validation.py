"""Validate a graph and report every issue at once, each naming its node or edge.

``validate_graph`` never raises for bad input: whatever JSON it is handed, it answers with a list
of :class:`~runtime.graph.Issue`. ``compile_graph`` raises :class:`GraphValidationError` with that
list, or returns the :class:`~runtime.plan.Plan` the executors run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from runtime.errors import ExpressionError, GraphValidationError, TemplateError
from runtime.graph import (
    DEFAULT_TARGET_HANDLE,
    MAX_EDGES,
    MAX_NODES,
    Edge,
    Issue,
    Node,
)
from runtime.nodes.base import NodeConfig
from runtime.nodes.registry import NodeRegistry, default_registry
from runtime.plan import Plan, PlannedNode, build_plan
from runtime.sandbox import referenced_keys, referenced_nodes, undeclared_names

TEMPLATE_NAMES = frozenset({"input", "nodes", "upstream"})


def _loc(loc: Iterable[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _pydantic_issues(
    exc: ValidationError,
    code: str,
    *,
    node_id: str | None = None,
    edge_id: str | None = None,
    prefix: str = "",
    model: type[BaseModel] | None = None,
) -> list[Issue]:
    issues = []
    for error in exc.errors(include_url=False):
        field = _loc(error["loc"])
        if prefix:
            field = f"{prefix}.{field}" if field else prefix
        message = plain_message(error, model) if model is not None else error["msg"]
        issues.append(Issue(code, message, node_id=node_id, edge_id=edge_id, field=field or None))
    return issues


def _field_name(loc: tuple[Any, ...], model: type[BaseModel]) -> str:
    """The setting's name as the settings panel shows it ("Routes", "Route 1 › when")."""
    if not loc:
        return "This setting"
    top = str(loc[0])
    info = model.model_fields.get(top)
    name = (info.title if info is not None and info.title else top.replace("_", " ")).strip()
    name = name[:1].upper() + name[1:]
    rest = [f"{part + 1}" if isinstance(part, int) else str(part) for part in loc[1:]]
    return " › ".join([name, *rest]) if rest else name


def plain_message(error: Any, model: type[BaseModel]) -> str:
    """A settings error in plain words, naming the setting: "Routes needs at least 1 item"
    rather than pydantic's "List should have at least 1 item after validation, not 0"."""
    name = _field_name(tuple(error["loc"]), model)
    kind, ctx = error["type"], error.get("ctx") or {}
    if error.get("input") == "" and kind in ("value_error", "string_pattern_mismatch"):
        return f"{name} cannot be empty"
    if kind == "string_pattern_mismatch":
        return f"{name} does not have the expected form (pattern {ctx.get('pattern')})"
    if kind == "missing":
        return f"{name} is required"
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        return f"{name} needs at least {least} item{'' if least == 1 else 's'}"
    if kind == "too_long":
        most = ctx.get("max_length")
        return f"{name} may have at most {most} item{'' if most == 1 else 's'}"
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        return f"{name} cannot be empty" if least == 1 else f"{name} needs {least}+ characters"
    if kind == "string_too_long":
        return f"{name} may be at most {ctx.get('max_length')} characters long"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{name} must be {words} {ctx.get(key)}"
    if kind == "literal_error":
        return f"{name} must be one of {ctx.get('expected')}"
    if kind == "extra_forbidden":
        return f"{name} is not a setting of this node"
    message = str(error["msg"])
    for noise in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(noise)
    return f"{name}: {message[:1].lower() + message[1:]}"


class _Validator:
    def __init__(self, registry: NodeRegistry) -> None:
        self.registry = registry
        self.issues: list[Issue] = []
        self.nodes: dict[str, Node] = {}
        self.configs: dict[str, NodeConfig] = {}
        self.edges: list[Edge] = []
        # Targets of every well-formed delegate edge by source, kept even when the edge itself is
        # refused (an invalid_delegate already names that edge; saying "no workers" too would be
        # noise).
        self.delegating: dict[str, set[str]] = {}

    def add(self, code: str, message: str, **where: Any) -> None:
        self.issues.append(Issue(code, message, **where))

    def run(self, raw: Any) -> Plan | None:
        if not isinstance(raw, dict):
            self.add("invalid_graph", "a graph is a JSON object with 'nodes' and 'edges' lists")
            return None
        raw_nodes, raw_edges = raw.get("nodes"), raw.get("edges", [])
        if not isinstance(raw_nodes, list):
            self.add("invalid_graph", "'nodes' must be a list", field="nodes")
            raw_nodes = []
        if not isinstance(raw_edges, list):
            self.add("invalid_graph", "'edges' must be a list", field="edges")
            raw_edges = []
        if len(raw_nodes) > MAX_NODES:
            self.add("too_many_nodes", f"a graph may have at most {MAX_NODES} nodes", field="nodes")
            return None
        if len(raw_edges) > MAX_EDGES:
            self.add("too_many_edges", f"a graph may have at most {MAX_EDGES} edges", field="edges")
            return None
        if not raw_nodes:
            self.add("empty_graph", "the graph has no nodes", field="nodes")
        self._nodes(raw_nodes)
        self._edges(raw_edges)
        self._delegators()
        topological = self._acyclic()
        if topological is not None:
            self._templates(topological)
        if self.issues or topological is None:
            return None
        planned = [
            PlannedNode(node, self.registry.get(node.type), self.configs[node.id], 0)  # type: ignore[arg-type]
            for node in self.nodes.values()
        ]
        return build_plan(planned, self.edges, topological)

    def _nodes(self, raw_nodes: list[Any]) -> None:
        for index, raw in enumerate(raw_nodes):
            where = f"nodes[{index}]"
            if not isinstance(raw, dict):
                self.add("invalid_node", "a node is a JSON object", field=where)
                continue
            raw_id = raw.get("id")
            if raw_id in (None, ""):
                self.add("missing_id", "the node has no id", field=f"{where}.id")
                continue
            node_id = raw_id if isinstance(raw_id, str) else None
            try:
                node = Node.model_validate(raw)
            except ValidationError as exc:
                self.issues.extend(_pydantic_issues(exc, "invalid_node", node_id=node_id))
                continue
            if node.id in self.nodes:
                self.add(
                    "duplicate_id", f"node id {node.id!r} is used more than once", node_id=node.id
                )
                continue
            self.nodes[node.id] = node
            node_type = self.registry.get(node.type)
            if node_type is None:
                known = ", ".join(self.registry.names())
                self.add(
                    "unknown_type",
                    f"unknown node type {node.type!r} (known: {known})",
                    node_id=node.id,
                    field="type",
                )
                continue
            try:
                self.configs[node.id] = node_type.config_model.model_validate(node.config)
            except ValidationError as exc:
                self.issues.extend(
                    _pydantic_issues(
                        exc,
                        "invalid_config",
                        node_id=node.id,
                        prefix="config",
                        model=node_type.config_model,
                    )
                )
                continue
            # Settings that are valid values but cannot run (a sub-flow naming no workflow).
            config_issues = getattr(node_type, "config_issues", None)
            if config_issues is not None:
                for code, message, field in config_issues(self.configs[node.id]):
                    self.add(code, message, node_id=node.id, field=field)

    def _edges(self, raw_edges: list[Any]) -> None:
        seen_ids: set[str] = set()
        seen_links: set[tuple[str, str, str, str]] = set()
        for index, raw in enumerate(raw_edges):
            where = f"edges[{index}]"
            if not isinstance(raw, dict):
                self.add("invalid_edge", "an edge is a JSON object", field=where)
                continue
            raw_id = raw.get("id")
            if raw_id in (None, ""):
                self.add("missing_id", "the edge has no id", field=f"{where}.id")
                continue
            try:
                edge = Edge.model_validate(raw)
            except ValidationError as exc:
                edge_id = raw_id if isinstance(raw_id, str) else None
                self.issues.extend(_pydantic_issues(exc, "invalid_edge", edge_id=edge_id))
                continue
            if edge.id in seen_ids:
                self.add(
                    "duplicate_id", f"edge id {edge.id!r} is used more than once", edge_id=edge.id
                )
                continue
            seen_ids.add(edge.id)
            if edge.kind == "delegate":
                self.delegating.setdefault(edge.source, set()).add(edge.target)
            if self._edge_ends(edge):
                link = (edge.source, edge.branch, edge.target, edge.kind)
                if link in seen_links:
                    self.add("duplicate_edge", "the same connection exists twice", edge_id=edge.id)
                    continue
                seen_links.add(link)
                self.edges.append(edge)

    def _edge_ends(self, edge: Edge) -> bool:
        ok = True
        for end in ("source", "target"):
            node_id = getattr(edge, end)
            if node_id not in self.nodes:
                self.add(
                    "dangling_edge",
                    f"{end} node {node_id!r} does not exist",
                    edge_id=edge.id,
                    field=end,
                )
                ok = False
        if not ok:
            return False
        if edge.source == edge.target:
            self.add("cycle", f"node {edge.source!r} is connected to itself", edge_id=edge.id)
            return False
        source, target = self.nodes[edge.source], self.nodes[edge.target]
        source_type, target_type = self.registry.get(source.type), self.registry.get(target.type)
        if source_type is None or target_type is None:
            return True  # already reported as unknown_type; the edge itself may be fine
        if edge.kind == "delegate":
            if not source_type.can_delegate:
                self.add(
                    "invalid_delegate",
                    f"a {source.type} node cannot delegate",
                    edge_id=edge.id,
                    field="source",
                )
                ok = False
            # An iteration node's body may be any node that takes an input.
            body_ok = source_type.delegates_to_any and bool(target_type.inputs)
            if not target_type.delegatable and not body_ok:
                self.add(
                    "invalid_delegate",
                    f"a {target.type} node cannot take delegated tasks",
                    edge_id=edge.id,
                    field="target",
                )
                ok = False
            return ok
        config = self.configs.get(source.id)
        if config is not None:
            outputs = source_type.outputs(config)
            if edge.branch not in outputs:
                have = ", ".join(outputs) or "none"
                self.add(
                    "unknown_handle",
                    f"node {source.id!r} ({source.type}) has no output handle "
                    f"{edge.branch!r} (it has: {have})",
                    edge_id=edge.id,
                    field="source_handle",
                )
                ok = False
        target_handle = edge.target_handle or DEFAULT_TARGET_HANDLE
        if target_handle not in target_type.inputs:
            have = ", ".join(target_type.inputs) or "none"
            self.add(
                "unknown_handle",
                f"node {target.id!r} ({target.type}) has no input handle "
                f"{target_handle!r} (it has: {have})",
                edge_id=edge.id,
                field="target_handle",
            )
            ok = False
        return ok

    def _delegators(self) -> None:
        """A node that exists to delegate (a manager) with nobody to delegate to cannot do its
        job: say so when the graph is saved, not when a run reaches it."""
        for node_id, node in self.nodes.items():
            node_type = self.registry.get(node.type)
            if node_type is None or not node_type.can_delegate:
                continue
            wired = len(self.delegating.get(node_id, ()))
            # A conversation needs two voices; a manager one worker; a map or a loop one body.
            needed = int(getattr(node_type, "min_delegates", 1))
            if node_type.delegates_to_any and wired != 1:
                self.add(
                    "body_count",
                    f"{node.type} {node_id!r} has {wired} body node(s): wire exactly one node "
                    "(or a subflow node) to it by a delegate edge; it runs once per "
                    + ("item" if node.type == "map" else "iteration"),
                    node_id=node_id,
                )
            elif node_type.delegates_to_any:
                (body,) = self.delegating[node_id]
                fed = [e.id for e in self.edges if e.kind == "flow" and e.target == body]
                if fed:
                    # It would also run on its own, once, when those edges are decided.
                    self.add(
                        "body_with_inputs",
                        f"{node.type} {node_id!r}'s body {body!r} also has connections into "
                        "it: a body runs only when handed an item; remove them",
                        node_id=body,
                        edge_id=fed[0],
                    )
            elif needed > 1 and wired < needed:
                self.add(
                    "too_few_participants",
                    f"{node.type} {node_id!r} has {wired} participant(s): wire it by delegate "
                    f"edges to at least {needed} agents that take turns",
                    node_id=node_id,
                )
            elif not wired:
                self.add(
                    "manager_without_workers",
                    f"{node.type} {node_id!r} has no delegate edges: wire it to the workers or "
                    "managers it may hand tasks to",
                    node_id=node_id,
                )

    def _acyclic(self) -> list[str] | None:
        """A deterministic topological order of all nodes over flow and delegate edges, or None."""
        order = {node_id: index for index, node_id in enumerate(self.nodes)}
        successors: dict[str, list[str]] = {node_id: [] for node_id in self.nodes}
        indegree = dict.fromkeys(self.nodes, 0)
        for edge in self.edges:
            successors[edge.source].append(edge.target)
            indegree[edge.target] += 1
        import heapq

        heap = [(order[n], n) for n, degree in indegree.items() if degree == 0]
        heapq.heapify(heap)
        result: list[str] = []
        while heap:
            _, node_id = heapq.heappop(heap)
            result.append(node_id)
            for target in successors[node_id]:
                indegree[target] -= 1
                if indegree[target] == 0:
                    heapq.heappush(heap, (order[target], target))
        if len(result) == len(self.nodes):
            return result
        # Nodes left with indegree > 0 include everything downstream of a cycle; an edge is on a
        # cycle only when both ends are in the same strongly connected component.
        component = _components(list(self.nodes), self.edges)
        for edge in self.edges:
            if component[edge.source] == component[edge.target]:
                members = [n for n in self.nodes if component[n] == component[edge.source]]
                self.add(
                    "cycle",
                    f"this {edge.kind} edge is part of a cycle ({' → '.join(members[:8])}); "
                    "flows must not loop back",
                    edge_id=edge.id,
                )
        return None

    def _templates(self, topological: list[str]) -> None:
        ancestors = self._ancestors(topological)
        for node_id, config in self.configs.items():
            node_type = self.registry.get(self.nodes[node_id].type)
            assert node_type is not None
            checks = [(f, s, False) for f, s in node_type.templates(config).items()] + [
                (f, s, True) for f, s in node_type.expressions(config).items()
            ]
            # Names a type's expressions may read besides these (a conversation's last turn).
            extra = frozenset(getattr(node_type, "expression_names", frozenset()))
            for field, source, is_expression in checks:
                self._check_text(
                    node_id,
                    f"config.{field}",
                    source,
                    is_expression,
                    ancestors[node_id],
                    extra if is_expression else frozenset(),
                )

    def _check_text(
        self,
        node_id: str,
        field: str,
        source: str,
        expression: bool,
        upstream: set[str],
        extra_names: frozenset[str] = frozenset(),
    ) -> None:
        kind = "expression" if expression else "template"
        try:
            refs = referenced_nodes(source, expression=expression)
            names = undeclared_names(source, expression=expression)
        except (TemplateError, ExpressionError) as exc:
            self.add(
                f"{kind}_syntax", f"{kind} does not parse: {exc}", node_id=node_id, field=field
            )
            return
        for name in sorted(names - TEMPLATE_NAMES - extra_names):
            self.add(
                f"{kind}_reference",
                f"{kind} reads {name!r}; it may read input, nodes.<id>.output and upstream",
                node_id=node_id,
                field=field,
            )
        for ref in sorted(refs):
            if ref not in self.nodes:
                self.add(
                    f"{kind}_reference",
                    f"{kind} names node {ref!r}, which does not exist",
                    node_id=node_id,
                    field=field,
                )
            elif ref not in upstream:
                self.add(
                    f"{kind}_reference",
                    f"{kind} names node {ref!r}, which is not upstream of this node",
                    node_id=node_id,
                    field=field,
                )

    def _ancestors(self, topological: list[str]) -> dict[str, set[str]]:
        """Nodes whose results are known when each node runs.

        Flow ancestors, plus for a node that takes delegated tasks, whatever its delegators know.
        """
        result: dict[str, set[str]] = {node_id: set() for node_id in self.nodes}
        for node_id in topological:
            for edge in self.edges:
                if edge.target != node_id:
                    continue
                if edge.kind == "flow":
                    result[node_id] |= result[edge.source] | {edge.source}
                else:
                    result[node_id] |= result[edge.source]
        return result


def _components(node_ids: list[str], edges: list[Edge]) -> dict[str, str]:
    """Strongly connected components (iterative Kosaraju): node id -> a representative id."""
    successors: dict[str, list[str]] = {n: [] for n in node_ids}
    predecessors: dict[str, list[str]] = {n: [] for n in node_ids}
    for edge in edges:
        successors[edge.source].append(edge.target)
        predecessors[edge.target].append(edge.source)
    finished: list[str] = []
    seen: set[str] = set()
    for start in node_ids:
        if start in seen:
            continue
        seen.add(start)
        stack = [(start, iter(successors[start]))]
        while stack:
            current, pending = stack[-1]
            following = next((n for n in pending if n not in seen), None)
            if following is None:
                stack.pop()
                finished.append(current)
            else:
                seen.add(following)
                stack.append((following, iter(successors[following])))
    component: dict[str, str] = {}
    for root in reversed(finished):
        if root in component:
            continue
        component[root] = root
        todo = [root]
        while todo:
            for before in predecessors[todo.pop()]:
                if before not in component:
                    component[before] = root
                    todo.append(before)
    return component


class _Warnings:
    """What runs but is most likely not meant, found on what the validator could read of a graph
    (so a draft with errors gets its warnings too). A warning never stops a save or a run."""

    def __init__(self, validator: _Validator) -> None:
        self.v = validator
        self.found: list[Issue] = []

    def run(self) -> list[Issue]:
        inputs = [n for n in self.v.nodes.values() if n.type == "input"]
        if inputs:
            self._unreachable(inputs)
            self._input_fields(inputs)
        return self.found

    def _unreachable(self, inputs: list[Node]) -> None:
        """A node no path leads to from the Input node still runs when the run starts (every node
        without incoming connections is a starting point): an unconnected worker spends tokens
        on an empty task. Delegate edges count: a manager's workers are reached through it."""
        successors: dict[str, list[str]] = {}
        for edge in self.v.edges:
            successors.setdefault(edge.source, []).append(edge.target)
        reached = {n.id for n in inputs}
        todo = list(reached)
        while todo:
            for following in successors.get(todo.pop(), ()):
                if following not in reached:
                    reached.add(following)
                    todo.append(following)
        fed = {edge.target for edge in self.v.edges}
        for node in self.v.nodes.values():
            if node.id in reached:
                continue
            why = (
                "it has no incoming connection, so it runs on its own, with no input, as soon as "
                "the run starts"
                if node.id not in fed
                else "it runs after nodes that are not connected to the Input node"
            )
            self.found.append(
                Issue(
                    "unreachable",
                    f"{node.title} is not connected to {_input_name(inputs)}: {why}. "
                    "Connect it, or delete it",
                    node_id=node.id,
                )
            )

    def _input_fields(self, inputs: list[Node]) -> None:
        """Templates that read ``input.<field>`` the Input node does not declare: the run form
        does not ask for it, and the template reads nothing."""
        declared: set[str] = set()
        open_ended = False
        for node in inputs:
            config = self.v.configs.get(node.id)
            fields = getattr(config, "fields", None)
            properties = fields.get("properties") if isinstance(fields, dict) else None
            if isinstance(properties, dict):
                declared |= set(properties)
                # {"additionalProperties": {...}} (or a schema without properties) takes any field
                if fields.get("additionalProperties") not in (None, False):  # type: ignore[union-attr]
                    open_ended = True
            elif fields:
                open_ended = True  # a schema we cannot list the fields of: say nothing
        if open_ended:
            return
        where = _input_name(inputs)
        for node_id, config in self.v.configs.items():
            node_type = self.v.registry.get(self.v.nodes[node_id].type)
            if node_type is None:
                continue
            texts = [(f, s, False) for f, s in node_type.templates(config).items()] + [
                (f, s, True) for f, s in node_type.expressions(config).items()
            ]
            for field, source, is_expression in texts:
                try:
                    read = referenced_keys(source, "input", expression=is_expression)
                except (TemplateError, ExpressionError):
                    continue  # an error already says so
                for name in sorted(read - declared):
                    have = ", ".join(sorted(declared))
                    self.found.append(
                        Issue(
                            "undeclared_input",
                            f"reads input.{name}, but {where} does not declare a field "
                            f"{name!r} "
                            + (f"(it declares: {have})" if have else "(it declares no fields)")
                            + f": add it to {where}'s input fields so the run form asks for it",
                            node_id=node_id,
                            field=f"config.{field}",
                        )
                    )


def _input_name(inputs: list[Node]) -> str:
    return inputs[0].label or "the Input node"


def graph_warnings(raw: Any, registry: NodeRegistry = default_registry) -> list[Issue]:
    """What would run but is most likely not meant (a node cut off from the Input node, a
    template reading an input field nobody declared). Never raises, never blocks a run."""
    validator = _Validator(registry)
    validator.run(raw)
    return _Warnings(validator).run()


def validate_graph(raw: Any, registry: NodeRegistry = default_registry) -> list[Issue]:
    validator = _Validator(registry)
    validator.run(raw)
    return validator.issues


def compile_graph(raw: Any, registry: NodeRegistry = default_registry) -> Plan:
    validator = _Validator(registry)
    plan = validator.run(raw)
    if plan is None:
        raise GraphValidationError(validator.issues)
    return plan


__all__ = ["compile_graph", "graph_warnings", "validate_graph"]
