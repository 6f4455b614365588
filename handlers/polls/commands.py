"""The polls feature's wiring: `!sondage` / `!poll`, `!décision` / `!decision`, `!quand` /
`!when`, `!bulletin` / `!ballot`, the nudge opt-outs and `!clore` / `!close`, the hooks that read
votes, the closing and nudge timers and the sent hook. Each job lives in its own module:

- ``handlers.polls.starting``: what every start command shares (storing the poll with its
  timers, the notice); ``start_choice`` (native and anonymous choose-N polls),
  ``start_by_replies`` (score, ranked and meeting-time polls), ``start_decision`` (consent);
- ``handlers.polls.args``: reading the commands' arguments and poll IDs;
- ``handlers.polls.anonymous``: `!bulletin` and the ballots answered by direct message;
- ``handlers.polls.intake``: votes from native responses (unstable and stable types) and
  number-emoji reactions on either event, replies, redactions, and polls people start or end
  from their own client, all stored as ballots;
- ``handlers.polls.close_commands``: `!clore` and `!annuler S2`;
- ``handlers.polls.closing``: recounting the ballots with ``handlers.polls.tally`` and posting
  the results, by `!clore`, by the closing timer or by a poll end event;
- ``handlers.polls.sent``: learning the event IDs of what the bot sent;
- ``handlers.polls.events``: the MSC3381 event shapes.
"""

from __future__ import annotations

from bot.runtime.kit import Feature, Hooks, Services
from bot.runtime.router import Command, Permission
from bot.runtime.timers import TaskKind
from bot.text.i18n import N_
from handlers.polls.anonymous import AnonymousBallots, read_ballot_request
from handlers.polls.close_commands import CloseCommand, cancel_poll, read_poll_id
from handlers.polls.closing import TASK_KIND, Closer, ClosingTimer
from handlers.polls.intake import PollIntake
from handlers.polls.nudges import NUDGE_KIND, Nudger, no_nudge, nudge_me
from handlers.polls.sent import sent_hook
from handlers.polls.start_by_replies import quand, read_when_request
from handlers.polls.start_choice import read_poll_request, send_notice, sondage
from handlers.polls.start_decision import decision, read_decision_request
from handlers.polls.starting import SENT_PREFIX


def feature(services: Services) -> Feature:
    """The poll commands, the hooks that read votes, the closing timer and the sent hook."""
    closer = Closer(
        services.outbox,
        services.renderer,
        services.timers,
        services.gateway,
        services.config.matrix.user_id,
    )
    close_command = CloseCommand(closer, services.gateway)
    anonymous = AnonymousBallots(services.gateway)
    intake = PollIntake(closer, announce=send_notice, anonymous=anonymous)
    timer = ClosingTimer(closer, services.config.bot)
    nudger = Nudger(
        services.outbox,
        services.renderer,
        services.gateway,
        services.config.bot,
        services.config.matrix.user_id,
    )
    return Feature(
        cancellers={"S": cancel_poll},
        commands=[
            Command(
                name="sondage",
                aliases=("poll",),
                handler=sondage,
                arguments=read_poll_request,
                summary=N_("start a poll (2 to 20 options) that every client can answer"),
                usage=N_(
                    "<question> ; <option> ; <option> [; …] [; end: <when>] [; choices: N] "
                    "[; type: score|ranked] [; quorum: N%] [; results: at the end] "
                    "[; anonymous: yes]"
                ),
                examples=(
                    N_("poll Which day for the workshop? ; Tuesday ; Thursday ; end: friday 6pm"),
                    N_("poll Which topics? ; digital ; mobility ; housing ; choices: 2"),
                    N_("poll Our priorities? ; garden ; bikes ; oven ; type: ranked"),
                ),
                permission=Permission.EVERYONE,
                details=N_(
                    "Vote in the poll, or react to it with 1️⃣ 2️⃣ 3️⃣… "
                    "The poll closes at “end” or with !close; results are then posted here. "
                    "“quorum: 50%”: the results say whether half the room's members answered; "
                    "“results: at the end”: apps show the counts only at the close. "
                    "“type: score”: each option rated 0 to 5 by replying to the poll's message; "
                    "“type: ranked”: options ranked by reply, winner by instant-runoff."
                ),
            ),
            Command(
                name="décision",
                aliases=("decision", "consent"),
                handler=decision,
                arguments=read_decision_request,
                summary=N_("propose a decision by consent: adopted unless an objection stands"),
                usage=N_("<text> [; end: <when>] [; quorum: N%] [; anonymous: yes]"),
                examples=(N_("decision We adopt the group's charter ; end: friday 6pm"),),
                permission=Permission.EVERYONE,
                details=N_(
                    "React to the decision's message with ✅ agree, 🤷 abstain, 👎 disagree or "
                    "✋ objection, and reply to it with the reason of an objection. It closes at "
                    "“end” or with !close; the result then states the rule and lists the "
                    "objections with their reasons. With “quorum: 50%”, nothing is adopted "
                    "unless half the room's members answered."
                ),
            ),
            Command(
                name="quand",
                aliases=("when",),
                handler=quand,
                arguments=read_when_request,
                summary=N_("find a meeting time: each slot answered yes, maybe or no"),
                usage=N_(
                    "<subject> ; <slot> ; <slot> [; …] [; end: <when>] [; quorum: N%] "
                    "[; anonymous: yes]"
                ),
                examples=(
                    N_("when Next plenary ; tuesday 6pm ; thursday 6:30pm ; end: friday noon"),
                ),
                permission=Permission.EVERYONE,
                details=N_(
                    "Reply to the poll's message with one answer per slot, in order "
                    "(“yes no maybe”), or only some (“1:yes 3:no”). At the close the best slot "
                    "is announced (most yes, then most maybe, then the earliest); an organiser "
                    "turns it into an event with !event from S<n>."
                ),
            ),
            Command(
                name="bulletin",
                aliases=("ballot",),
                handler=anonymous.bulletin,
                arguments=read_ballot_request,
                summary=N_("get a ballot for an anonymous poll, by direct message"),
                usage=N_("<poll ID>"),
                examples=(N_("ballot S3"),),
                permission=Permission.EVERYONE,
                details=N_(
                    "Answer the ballot in the direct message with the poll's ID and your "
                    "choice, e.g. “S3 2”; your latest answer counts until the close. Results "
                    "show no names, and the link between you and your answer is deleted at the "
                    "close."
                ),
            ),
            Command(
                name="pas-de-relance",
                aliases=("no-nudge",),
                handler=no_nudge,
                summary=N_("never be mentioned by nudges, in any room"),
                usage="",
                examples=(N_("no-nudge"),),
                permission=Permission.EVERYONE,
                details=N_(
                    "In rooms that use them, nudges mention, a day before a poll or a decision "
                    "closes, the members who have not answered, and a day before a deadline, "
                    "those who have not posted a proposal. Undo with !nudge-me."
                ),
            ),
            Command(
                name="relance-moi",
                aliases=("nudge-me",),
                handler=nudge_me,
                summary=N_("nudges may mention you again"),
                usage="",
                examples=(N_("nudge-me"),),
                permission=Permission.EVERYONE,
            ),
            Command(
                name="clore",
                aliases=("close",),
                handler=close_command.clore,
                arguments=read_poll_id,
                summary=N_("close a poll now and post its results"),
                usage=N_("<poll ID>"),
                examples=(N_("close S2"),),
                permission=Permission.EVERYONE,
                details=N_("The poll's author and organisers can close it."),
            ),
        ],
        hooks=Hooks(
            messages=[intake.on_message],
            edits=[intake.on_edit],
            polls=[intake.on_poll_event],
            reactions=[intake.on_reaction],
            redactions=[intake.on_redaction],
        ),
        task_kinds=[
            TaskKind(
                name=TASK_KIND,
                fire=timer.fire,
                describe_missed=timer.describe_missed,
                grace=None,  # results are still worth posting after a long downtime
                reads_first=True,  # the votes cast until the end are counted, the last too
            ),
            TaskKind(
                name=NUDGE_KIND,
                fire=nudger.fire,
                describe_missed=nudger.describe_missed,
                # the default grace: a nudge an hour late still helps, a day late it does not
            ),
        ],
        sent_hooks=[(SENT_PREFIX, sent_hook(services.outbox))],
    )
