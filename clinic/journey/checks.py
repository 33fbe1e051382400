"""Checks across the whole journey once every file is read: unique question ids, known answers, no loops, no orphans."""
from clinic.journey.errors import ContentError
from clinic.journey.model import REQUEST_TARGET, all_paths


def check_graph(journey, parts=True):
    steps = journey.steps
    question_owner = {}
    for step in steps.values():
        for question in step.questions:
            if question.id in question_owner:
                owner = question_owner[question.id]
                raise ContentError(step.source, "questions", f"question id '{question.id}' is also used in step '{owner}'")
            question_owner[question.id] = step.id

    def check_conditions(when, source, field_name):
        for question_id, values in when.items():
            question = journey.question(question_id)
            if question is None:
                raise ContentError(source, field_name, f"unknown question '{question_id}'")
            unknown = values - {o.value for o in question.options}
            if unknown:
                raise ContentError(source, field_name, f"question '{question_id}' has no answer {sorted(unknown)}")

    for step in steps.values():
        for index, rule in enumerate(step.rules):
            if rule.goto != REQUEST_TARGET and rule.goto not in steps:
                raise ContentError(step.source, f"next[{index}].goto", f"unknown next step '{rule.goto}'")
            check_conditions(rule.when, step.source, f"next[{index}].when")
        for index, block in enumerate(step.blocks):
            check_conditions(block.first_when, step.source, f"blocks[{index}].first_when")
        for index, item in enumerate(step.doctor_questions):
            check_conditions(item.when, step.source, f"doctor_questions[{index}].when")

    # Every step reachable, no loops: depth-first over every rule, whatever its condition.
    reachable, on_stack = set(), []

    def visit(step_id):
        if step_id == REQUEST_TARGET:
            return
        if step_id in on_stack:
            loop = " -> ".join(on_stack[on_stack.index(step_id):] + [step_id])
            raise ContentError(steps[step_id].source, "next", f"the steps loop: {loop}")
        if step_id in reachable:
            return
        on_stack.append(step_id)
        for rule in steps[step_id].rules:
            visit(rule.goto)
        on_stack.pop()
        reachable.add(step_id)

    visit(journey.first_step)
    for step_id, step in steps.items():
        if step_id not in reachable:
            raise ContentError(step.source, "id", f"step '{step_id}' cannot be reached from '{journey.first_step}'")
    if parts:
        check_parts(journey)


def check_parts(journey):
    """Every part names a section some step uses; every step after the first (stop pages aside) is in a part;
    and along every route the part number never goes back."""
    if not journey.parts:
        return
    meta = "journey.yaml"
    if len(set(journey.parts)) != len(journey.parts):
        raise ContentError(meta, "parts", "a part is listed twice")
    sections = {step.section for step in journey.steps.values()}
    for index, part in enumerate(journey.parts):
        if part not in sections:
            raise ContentError(meta, f"parts[{index}]", f"no step has the section '{part}'")
    for step in journey.steps.values():
        if step.id != journey.first_step and step.kind != "stop" and step.section not in journey.parts:
            raise ContentError(step.source, "section", f"'{step.section}' is not one of the parts in journey.yaml")
    for path in all_paths(journey):
        numbers = [journey.parts.index(journey.steps[s].section) for s in path
                   if s in journey.steps and journey.progress(journey.steps[s])]
        if numbers != sorted(numbers):
            raise ContentError(meta, "parts", f"the parts go backwards along the route {' -> '.join(path)}")
