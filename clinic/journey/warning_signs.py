"""Warning signs after back surgery (content/warning_signs.yaml): each sign's tier, the screens, the stop pages.

Plain Python, no Flask: the journey loader turns the groups into tick-box questions and routing rules, and other
parts of the site (staff flags, the journey report) ask `WarningSigns.in_answers` which signs a journey contains.
"""
from dataclasses import dataclass, replace

from clinic.journey.errors import ContentError
from clinic.journey.model import Option, Question, Rule

NONE_VALUE = "none"
QUESTION_PREFIX = "signs_"  # a group's question id is this and its id


@dataclass(frozen=True)
class Tier:
    id: str
    label: str
    stop_step: str  # the stop page this tier sends people to
    rank: int  # 0 is the most urgent: it wins when signs of several tiers are ticked


@dataclass(frozen=True)
class WarningSign:
    id: str
    label: str
    tier: Tier
    group: str
    provenance: str = ""  # `added: <reason>` for every sign today (schema.Source)


@dataclass(frozen=True)
class SignGroup:
    id: str
    step: str  # the safety step (screen) that asks this group
    label: str
    summary_label: str
    hint: str
    signs: tuple

    @property
    def question_id(self):
        return QUESTION_PREFIX + self.id


@dataclass(frozen=True)
class WarningSigns:
    tiers: tuple  # most urgent first
    groups: tuple
    none_label: str
    left_out: tuple = ()  # (label, reason): signs considered and left out, for the review pack

    def signs(self):
        return [sign for group in self.groups for sign in group.signs]

    def sign(self, sign_id):
        return next((s for s in self.signs() if s.id == sign_id), None)

    def tier(self, tier_id):
        return next((t for t in self.tiers if t.id == tier_id), None)

    def screens(self):
        """The safety steps that ask the signs, in the order a person meets them."""
        return list(dict.fromkeys(group.step for group in self.groups))

    def groups_on(self, step_id):
        return [group for group in self.groups if group.step == step_id]

    def in_answers(self, answers):
        """The warning signs a journey's answers contain, in content order (each has .label and .tier).

        A sign counts under any group's question: sign ids are unique, and a sign moved to another group (a screen
        split in two) is still found in answers stored before the move.
        """
        given = set()
        for question_id, value in answers.items():
            if question_id.startswith(QUESTION_PREFIX):
                given |= set(value) if isinstance(value, list) else {value}
        return [sign for sign in self.signs() if sign.id in given]

    def top_tier(self, answers):
        """The most urgent tier among the answers' signs, or None when there are none."""
        ranked = sorted((sign.tier for sign in self.in_answers(answers)), key=lambda tier: tier.rank)
        return ranked[0] if ranked else None

    def most_urgent(self):
        return [sign for sign in self.signs() if sign.tier.rank == 0]

    def stop_steps(self):
        return {tier.stop_step for tier in self.tiers}

    def routing(self, step_id):
        """[(question id, sign ids, stop step)] for one screen, first match wins.

        A tier sends people to its stop page from the first screen where no more urgent sign is still to be asked;
        until then its signs wait, so a same-day sign on screen one never hides an emergency sign on screen two.
        The most urgent tier is always checked first, so it wins when signs of several tiers are ticked.
        """
        screens = self.screens()
        position = screens.index(step_id)
        asked = [group for group in self.groups if screens.index(group.step) <= position]
        later = [group for group in self.groups if screens.index(group.step) > position]
        rules = []
        for tier in self.tiers:
            more_urgent_later = any(s.tier.rank < tier.rank for group in later for s in group.signs)
            if more_urgent_later:
                continue
            for group in asked:
                ids = [s.id for s in group.signs if s.tier.id == tier.id]
                if ids:
                    rules.append((group.question_id, ids, tier.stop_step))
        return rules


def build_warning_signs(data, source):
    """WarningSigns from the validated file (schema.WarningSignsFile), with the checks that span fields.

    Raises ContentError naming the file and the field.
    """
    tiers = []
    for index, raw in enumerate(data.tiers):
        if any(t.id == raw.id for t in tiers):
            raise ContentError(source, f"tiers[{index}].id", f"tier '{raw.id}' appears twice")
        if any(t.stop_step == raw.stop_step for t in tiers):
            raise ContentError(source, f"tiers[{index}].stop_step", f"two tiers send people to '{raw.stop_step}'")
        tiers.append(Tier(id=raw.id, label=raw.label, stop_step=raw.stop_step, rank=index))
    tier_by_id = {t.id: t for t in tiers}

    groups, seen_signs, seen_groups = [], {}, set()
    for index, raw in enumerate(data.groups):
        name = f"groups[{index}]"
        if raw.id in seen_groups:
            raise ContentError(source, f"{name}.id", f"group '{raw.id}' appears twice")
        seen_groups.add(raw.id)
        signs = []
        for sign_index, raw_sign in enumerate(raw.signs):
            sign_name = f"{name}.signs[{sign_index}]"
            if raw_sign.id == NONE_VALUE:
                raise ContentError(source, f"{sign_name}.id", f"'{NONE_VALUE}' is the value of the '{data.none_label}' box")
            if raw_sign.id in seen_signs:
                # One id in two places could carry two tiers: every sign maps to exactly one.
                raise ContentError(source, f"{sign_name}.id", f"sign '{raw_sign.id}' is also in {seen_signs[raw_sign.id]}")
            seen_signs[raw_sign.id] = sign_name
            if raw_sign.tier not in tier_by_id:
                raise ContentError(source, f"{sign_name}.tier", f"must be exactly one of {', '.join(tier_by_id)}")
            signs.append(WarningSign(id=raw_sign.id, label=raw_sign.label, tier=tier_by_id[raw_sign.tier], group=raw.id,
                                     provenance=raw_sign.source))
        groups.append(SignGroup(
            id=raw.id, step=raw.step, label=raw.label, summary_label=raw.summary_label or raw.label,
            hint=raw.hint or "", signs=tuple(signs),
        ))

    # A screen's groups sit together, so "the screens in order" means one thing.
    steps = [group.step for group in groups]
    for index, step in enumerate(steps):
        if step in steps[:index] and steps[index - 1] != step:
            raise ContentError(source, f"groups[{index}].step", f"the groups of step '{step}' must be listed together")
    used = {sign.tier.id for group in groups for sign in group.signs}
    for index, tier in enumerate(tiers):
        if tier.id not in used:
            raise ContentError(source, f"tiers[{index}]", f"no sign sends people to tier '{tier.id}'")
    return WarningSigns(tiers=tuple(tiers), groups=tuple(groups), none_label=data.none_label,
                        left_out=tuple((item.label, item.reason) for item in data.left_out))


def attach_to_steps(steps, signs, source):
    """Each group becomes a check-box question on its screen; each screen gets the rules to the stop pages first."""
    for index, tier in enumerate(signs.tiers):
        stop = steps.get(tier.stop_step)
        if stop is None or stop.kind != "stop":
            raise ContentError(source, f"tiers[{index}].stop_step",
                               f"tier '{tier.id}' needs a stop page steps/{tier.stop_step}.md (kind: stop)")
    for step_id in signs.screens():
        step = steps.get(step_id)
        if step is None or step.kind != "question":
            raise ContentError(source, "groups", f"step '{step_id}' must be a question step in steps/")
        if step.questions:
            raise ContentError(step.source, "questions", "a warning-sign step gets its questions from warning_signs.yaml")
        questions = tuple(
            Question(
                id=group.question_id, type="multiple", label=group.label, summary_label=group.summary_label,
                hint=group.hint, optional=False, exclusive=NONE_VALUE,
                options=tuple(Option(value=s.id, label=s.label) for s in group.signs)
                + (Option(value=NONE_VALUE, label=signs.none_label),),
            )
            for group in signs.groups_on(step_id)
        )
        routed = tuple(Rule(when={qid: frozenset(ids)}, goto=goto) for qid, ids, goto in signs.routing(step_id))
        steps[step_id] = replace(step, questions=questions, rules=routed + step.rules)


def check_routes(journey, source):
    """Walk the screens with each sign checked alone, and with none: each lands where its tier says."""
    signs = journey.warning_signs
    nothing = {group.question_id: [NONE_VALUE] for group in signs.groups}
    onward = landing(journey, nothing)
    if onward in signs.stop_steps():
        raise ContentError(source, "groups", f"with no sign checked the journey still stops at '{onward}'")
    for group in signs.groups:
        for sign in group.signs:
            got = landing(journey, {**nothing, group.question_id: [sign.id]})
            if got != sign.tier.stop_step:
                raise ContentError(source, f"{group.id}.{sign.id}",
                                   f"leads to '{got}', not to its tier's stop page '{sign.tier.stop_step}'")


def landing(journey, answers):
    """The step the safety screens send someone to with these answers."""
    screens = journey.warning_signs.screens()
    current = screens[0]
    while current in screens:
        current = journey.next_step(journey.steps[current], answers)
    return current
