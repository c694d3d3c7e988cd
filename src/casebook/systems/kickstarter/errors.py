"""Kickstarter's problems (RFC 9457 types under `/problems/kickstarter/…`)."""

from __future__ import annotations

from casebook.platform.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem


class ProjectNotFound(NotFound):
    type_ = "kickstarter/project-not-found"
    title = "No such project"


class NotTheCreator(Forbidden):
    type_ = "kickstarter/not-the-creator"
    title = "Only the project's creator may do this"


class ProjectFrozen(Conflict):
    type_ = "kickstarter/project-frozen"
    title = "This cannot change once the project has launched"


class ProjectNotLive(Conflict):
    type_ = "kickstarter/project-not-live"
    title = "The project is not accepting pledges"


class InvalidProject(InvalidInput):
    type_ = "kickstarter/invalid-project"
    title = "Invalid project"


class InvalidPledgeForm(InvalidInput):
    type_ = "kickstarter/invalid-pledge-form"
    title = "The pledge form is not filled in correctly"


class RewardNotFound(NotFound):
    type_ = "kickstarter/reward-not-found"
    title = "No such reward tier on this project"


class RewardSoldOut(Conflict):
    type_ = "kickstarter/reward-sold-out"
    title = "This reward is sold out"


class PledgeBelowMinimum(InvalidInput):
    type_ = "kickstarter/pledge-below-minimum"
    title = "The pledge is below the reward's minimum"


class PledgeNotFound(NotFound):
    type_ = "kickstarter/pledge-not-found"
    title = "No such pledge"


class PledgeClosed(Conflict):
    type_ = "kickstarter/pledge-closed"
    title = "This pledge was cancelled or settled; it can no longer change"


class AlreadyBacked(Conflict):
    type_ = "kickstarter/already-backed"
    title = "You already back this project; change your pledge instead"


class OwnProject(Conflict):
    type_ = "kickstarter/own-project"
    title = "Creators cannot back their own project"


class CardDeclined(Problem):
    """The card network refused the payment; `decline_code` says why (Stripe's vocabulary)."""

    status = 402
    type_ = "kickstarter/card-declined"
    title = "The card was declined"

    def __init__(self, decline_code: str, detail: str = "") -> None:
        self.decline_code = decline_code
        super().__init__(detail or f"The card was declined ({decline_code}).", code=decline_code)


class CardNetworkUnavailable(Problem):
    status = 503
    type_ = "kickstarter/card-network-unavailable"
    title = "The card network did not answer; nothing was charged, try again"


class NoProjectImage(NotFound):
    type_ = "kickstarter/no-project-image"
    title = "The project has no image"
