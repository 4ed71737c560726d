"""``conversation``: peer-to-peer agents. The nodes wired to it by ``delegate`` edges (its
participants) take turns on a topic until one says the stop phrase, the stop expression holds,
or ``max_turns`` is reached.

Each turn is one round of the step machinery the manager uses: the node returns a
:class:`~runtime.nodes.base.Delegate` with one task, for the participant whose turn it is, and
runs again with that turn's result. So every turn is a child step: visible on the canvas, run
on the Celery workers, counted in the conversation's subtree cost. The transcript travels in
``Delegate.state`` as plain JSON (the server stores it between rounds).

A participant's task input is an object: ``topic``, ``turn`` (1-based), ``max_turns``,
``speaker`` and ``role`` (whose turn it is), ``transcript`` (earlier turns, each
``{speaker, role, text}``), ``last`` (the latest turn or null) and ``prompt`` (all of that as
one text), so its instructions may read ``{{ upstream.prompt }}`` or pick the parts.

Who speaks next: ``round_robin`` takes the participants in graph order; ``model`` asks a (cheap)
model to pick from the participants' roles and the transcript, as structured output.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from runtime.errors import PermanentError
from runtime.llm import chat_json
from runtime.model_tiers import FAST
from runtime.nodes.base import (
    Complete,
    Delegate,
    DelegateTask,
    NodeConfig,
    NodeResult,
    NodeType,
    StepContext,
    TaskResult,
)
from runtime.nodes.worker import ModelRef, credential_field, format_input, model_field
from runtime.providers.base import ChatMessage
from runtime.retry import RetryPolicy
from runtime.sandbox import compile_expression, compile_template

MIN_PARTICIPANTS = 2
MAX_TURN_CHARS = 20_000  # of one turn in the transcript: it is stored and resent every turn


class ConversationConfig(NodeConfig):
    topic: str = Field(
        default="{{ upstream }}",
        max_length=50_000,
        title="Topic and instructions",
        description="What the participants discuss and how; a template over input, "
        "nodes.<id>.output and upstream. Every participant reads it each turn",
        json_schema_extra={"widget": "template"},
    )
    speaker_order: Literal["round_robin", "model"] = Field(
        default="round_robin",
        title="Speaker order",
        description="round_robin: the participants in turn, in graph order; model: a model "
        "picks the next speaker from their roles and the transcript",
    )
    model: ModelRef = model_field(FAST)
    credential: str = credential_field()
    allow_repeat_speaker: bool = Field(
        default=False,
        title="Same speaker twice",
        description="With speaker order model: whether one participant may speak twice in a row",
    )
    max_turns: int = Field(
        default=6, ge=1, le=50, title="Max turns", description="Turns at most, all speakers"
    )
    stop_phrase: str = Field(
        default="",
        max_length=200,
        title="Stop phrase",
        description="The conversation ends after a turn containing this text (any case), "
        "e.g. APPROVED; empty: none",
    )
    stop_when: str = Field(
        default="",
        max_length=2_000,
        title="Stop when",
        description="An expression checked after every turn; it reads last (the turn: speaker, "
        "role, text, turn), transcript, input, nodes.<id>.output and upstream. Empty: none",
        json_schema_extra={"widget": "expression"},
    )
    output: Literal["final_turn", "transcript"] = Field(
        default="final_turn",
        title="Output",
        description="final_turn: the last turn's text; transcript: every turn as "
        "{speaker, role, text}",
    )
    temperature: float | None = Field(default=None, ge=0, le=2, title="Temperature")
    timeout: float = Field(default=120.0, gt=0, le=3600, title="Timeout (s) of one turn's pick")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, title="Retry")


def transcript_text(transcript: list[dict[str, Any]]) -> str:
    return "\n\n".join(
        f"[{index}] {turn['speaker']} ({turn['role']}): {turn['text']}"
        for index, turn in enumerate(transcript, 1)
    )


def turn_prompt(
    topic: str, transcript: list[dict[str, Any]], turn: int, max_turns: int, role: str
) -> str:
    parts = [topic.strip()]
    if transcript:
        parts.append("The conversation so far:\n\n" + transcript_text(transcript))
        parts.append(f"Turn {turn} of at most {max_turns}: you speak next, as {role}.")
    else:
        parts.append(f"Turn 1 of at most {max_turns}: you open the conversation, as {role}.")
    return "\n\n".join(part for part in parts if part)


def speaker_schema(candidates: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"speaker": {"enum": candidates}},
        "required": ["speaker"],
    }


def _turn_text(result: TaskResult) -> str:
    text = format_input(result.output) if result.output is not None else ""
    if len(text) > MAX_TURN_CHARS:
        text = text[:MAX_TURN_CHARS] + f"… [cut at {MAX_TURN_CHARS} characters]"
    return text


class ConversationNode(NodeType[ConversationConfig]):
    type = "conversation"
    label = "Conversation"
    category = "ai"
    description = (
        "Agents wired to it by delegate edges talk in turns (round robin or picked by a model) "
        "until a stop phrase or condition, or max turns; outputs the last turn or the transcript."
    )
    config_model = ConversationConfig
    has_error_handle = True
    can_delegate = True
    delegatable = True  # a manager may hand a task to a whole conversation
    # Read by validation: delegate edges this type needs, and the extra names its expressions
    # may read besides input, nodes and upstream.
    min_delegates: ClassVar[int] = MIN_PARTICIPANTS
    expression_names: ClassVar[frozenset[str]] = frozenset({"last", "transcript"})

    def templates(self, config: ConversationConfig) -> dict[str, str]:
        return {"topic": config.topic}

    def expressions(self, config: ConversationConfig) -> dict[str, str]:
        return {"stop_when": config.stop_when} if config.stop_when.strip() else {}

    def participants(self, ctx: StepContext) -> dict[str, dict[str, Any]]:
        info = {entry.get("id"): entry for entry in ctx.delegate_info}
        return {node_id: info.get(node_id) or {"id": node_id} for node_id in ctx.delegates}

    @staticmethod
    def role_of(member: dict[str, Any]) -> str:
        return str(member.get("role") or member.get("label") or member["id"])

    async def run(self, ctx: StepContext, config: ConversationConfig) -> NodeResult:
        if len(ctx.delegates) < MIN_PARTICIPANTS:
            raise PermanentError(
                f"a conversation needs at least {MIN_PARTICIPANTS} participants wired by "
                "delegate edges"
            )
        members = self.participants(ctx)
        state = ctx.state if isinstance(ctx.state, dict) else {}
        transcript: list[dict[str, Any]] = [dict(turn) for turn in state.get("transcript", [])]
        topic = state.get("topic")
        if not isinstance(topic, str):
            topic = compile_template(config.topic).render(ctx.scope)
        if ctx.resume is not None:
            result: TaskResult = next(iter(ctx.resume))
            number = len(transcript) + 1
            if result.status != "succeeded":
                error = result.error or {}
                reason = error.get("message") or error.get("code") or "no result"
                raise PermanentError(f"turn {number} by {result.node_id!r} failed: {reason}")
            member = members.get(result.node_id) or {"id": result.node_id}
            turn = {"speaker": result.node_id, "role": self.role_of(member)}
            transcript.append({**turn, "text": _turn_text(result)})
            if self.should_stop(ctx, config, transcript):
                return Complete(self.output(config, transcript))
        if len(transcript) >= config.max_turns:
            return Complete(self.output(config, transcript))
        speaker = await self.next_speaker(ctx, config, members, topic, transcript)
        number = len(transcript) + 1
        role = self.role_of(members[speaker])
        task = {
            "topic": topic,
            "turn": number,
            "max_turns": config.max_turns,
            "speaker": speaker,
            "role": role,
            "transcript": transcript,
            "last": transcript[-1] if transcript else None,
            "prompt": turn_prompt(topic, transcript, number, config.max_turns, role),
        }
        return Delegate(
            [DelegateTask(speaker, task)], state={"topic": topic, "transcript": transcript}
        )

    def should_stop(
        self, ctx: StepContext, config: ConversationConfig, transcript: list[dict[str, Any]]
    ) -> bool:
        last = transcript[-1]
        phrase = config.stop_phrase.strip()
        if phrase and phrase.casefold() in last["text"].casefold():
            return True
        if config.stop_when.strip():
            scope = {
                **ctx.scope,
                "last": {**last, "turn": len(transcript)},
                "transcript": transcript,
            }
            return bool(compile_expression(config.stop_when).evaluate(scope))
        return False

    @staticmethod
    def output(config: ConversationConfig, transcript: list[dict[str, Any]]) -> Any:
        if config.output == "transcript":
            return transcript
        return transcript[-1]["text"] if transcript else ""

    async def next_speaker(
        self,
        ctx: StepContext,
        config: ConversationConfig,
        members: dict[str, dict[str, Any]],
        topic: str,
        transcript: list[dict[str, Any]],
    ) -> str:
        order = list(members)
        if config.speaker_order == "round_robin":
            return order[len(transcript) % len(order)]
        candidates = order
        if transcript and not config.allow_repeat_speaker:
            candidates = [node_id for node_id in order if node_id != transcript[-1]["speaker"]]
        if len(candidates) == 1:
            return candidates[0]  # nothing to choose: no call
        choice, _ = await chat_json(
            ctx,
            [config.model],
            self.moderator_messages(members, candidates, topic, transcript),
            speaker_schema(candidates),
            max_repairs=1,
            what=f"next speaker of conversation {ctx.node.id!r}",
            temperature=config.temperature,
            timeout=config.timeout,
            stream=False,
            credential=config.credential or None,
        )
        return str(choice["speaker"])

    def moderator_messages(
        self,
        members: dict[str, dict[str, Any]],
        candidates: list[str],
        topic: str,
        transcript: list[dict[str, Any]],
    ) -> list[ChatMessage]:
        lines = [
            "You moderate a conversation between agents and pick who speaks next: the "
            "participant whose role fits what the conversation needs now.",
            "Participants (answer with exactly one of these ids):",
        ]
        for node_id in candidates:
            member = members[node_id]
            details = [self.role_of(member)]
            if member.get("goal"):
                details.append(str(member["goal"]))
            lines.append(f"- {node_id}: {'; '.join(details)}")
        conversation = transcript_text(transcript) if transcript else "(nobody has spoken yet)"
        ask = f"Topic:\n{topic.strip()}\n\nThe conversation so far:\n\n{conversation}\n\n"
        ask += 'Who speaks next? Answer {"speaker": "<id>"}.'
        return [
            {"role": "system", "content": "\n".join(lines)},
            {"role": "user", "content": ask},
        ]
