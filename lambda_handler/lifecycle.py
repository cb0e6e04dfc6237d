"""What each CloudFormation request does to SES, decided from the physical id and the properties. Decisions only:
the calls go through SesTracking, which answers those an operation made before from its journal."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from .budget import SERVICE_TIMEOUT
from .errors import ProviderError, SesOperationError
from .operation import Operation
from .ownership import Holder, Ownership, SetOwnership
from .physical_ids import Found, Issued, parse
from .properties import TrackingProps
from .ses import Created, Current, SesTracking

__all__ = ["Decided", "Lifecycle"]

logger = logging.getLogger(__name__)


def _already_exists(name: str) -> ProviderError:
    return ProviderError(
        f"Configuration set '{name}' already has tracking options this stack did not create; left unchanged. "
        "Set adopt_existing=True to take them over (given back on delete), or remove them first"
    )


_SET_GONE = frozenset({"ConfigurationSetDoesNotExist", "NotFound"})


@dataclass(frozen=True)
class Decided:
    """A Create's or an Update's outcome: the physical id to answer with, and the set's record as it leaves it."""

    physical_id: str
    recorded: SetOwnership | None = None


class Lifecycle:
    """The physical id records which set's options this resource manages, and what it adopted there; the
    provider's record of ownership (ownership.py) tells which resource of the stack holds a set now. Nothing
    else is ever touched."""

    def __init__(self, ses: SesTracking, ownership: Callable[[str], Ownership | None]) -> None:
        self._ses = ses
        self._ownership = ownership
        self._logical_id = ses.operation.logical_id

    @property
    def operation(self) -> Operation:
        return self._ses.operation

    def holding(self, recorded: SetOwnership | None) -> Lifecycle:
        """This lifecycle, reading a set's record as an answer not yet written leaves it."""
        if recorded is None:
            return self
        read = self._ownership
        return Lifecycle(self._ses, lambda name: recorded.ownership if name == recorded.set_name else read(name))

    def _holding(self, physical_id: str, props: TrackingProps) -> Holder:
        operation = self._ses.operation
        created = operation.first_seen if operation.request_type == "Create" else None
        return Holder(self._logical_id, physical_id, props.custom_redirect_domain, props.https_policy, created)

    def _held(self, issued: Issued, props: TrackingProps, before: Ownership | None) -> Decided:
        """The set's options held by this resource under `issued`, recorded with the answer."""
        physical_id = issued.encode()
        holder = self._holding(physical_id, props)
        ownership = before.taken_by(holder) if before is not None else Ownership(holder)
        return Decided(physical_id, SetOwnership(issued.set_name, ownership))

    def create(self, props: TrackingProps) -> Decided:
        name = props.configuration_set_name
        created = self._create_options(props)
        if created is Created.NEW:
            self._set_policy_of_new_options(props)
            # Options made now: whoever the record named had lost them; a rollback gives nothing back.
            return self._held(Issued(name), props, None)
        before = self._recorded(name, props)
        if created is Created.OURS_AFTER_LOST_ANSWER and not self._another_holds(before):
            self._set_policy_of_new_options(props)
            return self._held(Issued(name), props, before)
        if before is not None:
            return self._take_over(props, before, previous=None)
        if not props.adopt_existing:
            raise _already_exists(name)
        return self._held(self._adopt(props, self._ses.current(name), previous=None), props, None)

    def _recorded(self, name: str, props: TrackingProps) -> Ownership | None:
        """The set's record, if SES still holds what it says (or what this resource declares: a switch an
        invocation that stopped had made); else None, and the options there are not the stack's."""
        before = self._ownership(name)
        if before is None:
            return None
        current = self._ses.current(name)
        domain = None if current is None or current.domain is None else current.domain.lower()
        if domain in {before.holder.domain.lower(), props.custom_redirect_domain.lower()}:
            return before
        logger.warning(
            "Set %s no longer holds the options of %s (%s): changed outside this stack, not taken over",
            name,
            before.holder.logical_id,
            current.domain if current is not None else "the set is gone",
        )
        return None

    def _another_holds(self, before: Ownership | None) -> bool:
        """Whether options that look like this resource's lost write are another resource's of the stack."""
        return before is not None and before.holder.logical_id != self._logical_id

    def _take_over(self, props: TrackingProps, before: Ownership, previous: Issued | None) -> Decided:
        """Options another resource of this stack holds (a renamed or moved construct), or this one (a retry, a
        rollback moving back): switched in place to what this resource declares, in one call."""
        name = props.configuration_set_name
        try:
            self._switch(name, props.custom_redirect_domain, props.https_policy, before.holder)
        except ProviderError:
            # The switch may have been applied before it failed: back to what the holder declares, so that the
            # stack's rollback (whose Delete of this resource changes nothing) keeps what it keeps.
            try:
                self._switch(name, before.holder.domain, before.holder.policy, self._holding("", props))
            except ProviderError:
                logger.exception("Set %s: could not switch back to the options of %s", name, before.holder.logical_id)
            raise
        held = parse(before.holder.physical_id)
        if before.holder.logical_id == self._logical_id and held is not None:
            # This resource's own id for the set: a rollback of a move returns to it exactly.
            logger.info("Set %s: this resource's options, kept", name)
            return self._held(held, props, before)
        # What was found before the first adoption travels with the options, to be given back at the end.
        found = held.found if held is not None else None
        logger.info("Set %s: took over the tracking options of %s", name, before.holder.logical_id)
        return self._held(Issued(name, found, previous), props, before)

    def update(self, physical_resource_id: str, props: TrackingProps, old: TrackingProps | None) -> Decided:
        name = props.configuration_set_name
        issued = parse(physical_resource_id)
        if issued is not None and issued.set_name == name:
            return self._update_same_set(issued, props, old)
        return self._move(issued, props)

    def _update_same_set(self, issued: Issued, props: TrackingProps, old: TrackingProps | None) -> Decided:
        name = props.configuration_set_name
        try:
            self._update_in_place(props, old)
        except SesOperationError as error:
            if error.code not in _SET_GONE:
                raise
            # Deleted out of band: nothing to manage, and neither this Update nor its rollback may block.
            logger.warning("Set %s no longer exists: nothing to update, its options went with it", name)
            return Decided(issued.encode(), SetOwnership(name, None))
        return self._held(issued, props, self._ownership(name))

    def _move(self, issued: Issued | None, props: TrackingProps) -> Decided:
        """Another set: take it and return its id; CloudFormation then deletes the old id, giving that set
        back what was adopted there. The new id remembers an adopted old set, for a rollback of this move."""
        name = props.configuration_set_name
        previous = issued.without_previous() if issued is not None and issued.found is not None else None
        moving_back = issued is not None and issued.previous is not None and issued.previous.set_name == name
        # A Create whose answer was lost is recognised as on a Create, except when moving back to options this
        # resource adopted there (decided below, from what the set holds).
        created = self._ses.create(name, props.custom_redirect_domain) if moving_back else self._create_options(props)
        if created is Created.NEW:
            self._set_policy_of_new_options(props)
            return self._held(Issued(name, previous=previous), props, None)
        before = self._recorded(name, props)
        if created is Created.OURS_AFTER_LOST_ANSWER and not self._another_holds(before):
            self._set_policy_of_new_options(props)
            return self._held(Issued(name, previous=previous), props, before)
        if before is not None:
            # Options of this stack: another resource's (a refactor), or this one's (a rollback moving back).
            return self._take_over(props, before, previous)
        current = self._ses.current(name)
        if (
            current is not None
            and props.matches(current.domain, current.policy)
            and issued is not None
            and issued.previous is not None
            and issued.previous.set_name == name
        ):
            # A rollback moves back to a set this resource adopted and never gave up (an id from before the
            # record of ownership).
            logger.info("Set %s still holds this resource's options; moving back to what it adopted", name)
            return self._held(issued.previous, props, None)
        if not props.adopt_existing:
            # Options that merely equal these are not this stack's to take, nor to remove on delete.
            raise _already_exists(name)
        return self._held(self._adopt(props, current, previous), props, None)

    def delete(self, physical_resource_id: str, props: TrackingProps | None) -> SetOwnership | None:
        """Remove what this resource holds, or give it back; the set's record as the Delete leaves it."""
        issued = parse(physical_resource_id)
        if issued is None:
            return self._delete_never_issued(physical_resource_id, props)
        name = issued.set_name
        before = self._ownership(name)
        if before is not None:
            return self._delete_recorded(name, before, physical_resource_id, props)
        self._delete_by_id(issued, props)
        return None

    def _delete_never_issued(self, physical_resource_id: str, props: TrackingProps | None) -> SetOwnership | None:
        """The Delete of a Create that failed (CloudFormation heard its FAILED answer, with crhelper's id or the
        provider's own, `<stack>_<logical id>_<8 characters>`: nothing to remove) or that CloudFormation cancelled
        (the id is CloudFormation's): if that Create ran after all, its answer unheard, the set's record names
        this resource as its holder, recorded by a Create sent within a ServiceTimeout before this Delete, and
        what it holds goes as on any Delete. Any other holder (one from an earlier deploy, kept by
        RemovalPolicy.RETAIN, say) is not this Delete's to touch."""
        before = self._ownership(props.configuration_set_name) if props is not None else None
        sent = self._ses.operation.first_seen
        if (
            props is None
            or before is None
            or before.holder.logical_id != self._logical_id
            or before.holder.created is None
            or not sent - SERVICE_TIMEOUT <= before.holder.created <= sent
            or re.fullmatch(rf".+_{re.escape(self._logical_id)}_[A-Z0-9]{{8}}", physical_resource_id)
        ):
            logger.info("Physical id %r was never issued by this provider; nothing to delete", physical_resource_id)
            return None
        name = props.configuration_set_name
        logger.warning("Set %s: its options are from a Create CloudFormation stopped waiting for; removed", name)
        return self._delete_recorded(name, before, before.holder.physical_id, props)

    def _delete_recorded(
        self, name: str, before: Ownership, physical_resource_id: str, props: TrackingProps | None
    ) -> SetOwnership | None:
        if not before.holder.is_resource(self._logical_id, physical_resource_id):
            # Handed on (the cleanup after a rename or a move): the holder keeps the options.
            logger.info("Set %s: its tracking options are %s's now; left in place", name, before.holder.logical_id)
            return SetOwnership(name, before.without(self._logical_id, physical_resource_id))
        if before.handed:
            # A rollback removes the resource that took the options over: they go back to the one it took them from.
            back = before.handed[0]
            current = self._ses.current(name)
            if current is None:
                logger.warning("Set %s no longer exists: nothing to give back to %s", name, back.logical_id)
                return SetOwnership(name, None)
            if current.domain is None or current.domain.lower() != before.holder.domain.lower():
                logger.warning("Set %s: its tracking options were changed outside this stack; left in place", name)
            else:
                self._switch(name, back.domain, back.policy, before.holder)
                logger.info("Set %s: gave its tracking options back to %s", name, back.logical_id)
            return SetOwnership(name, Ownership(back, before.handed[1:]))
        issued = parse(physical_resource_id)
        assert issued is not None, "the record names ids this provider issued"
        self._delete_by_id(issued, props)
        return SetOwnership(name, None)

    def _delete_by_id(self, issued: Issued, props: TrackingProps | None) -> None:
        name = issued.set_name
        if props is not None and props.configuration_set_name != name:
            logger.warning(
                "Physical id names set %s, the properties set %s: left both alone", name, props.configuration_set_name
            )
            return
        if props is None:
            if issued.found is not None:
                logger.warning("Set %s: no readable properties to tell our options from others'; left", name)
            elif not self._ses.delete(name):
                logger.info("Set %s or its tracking options are already gone", name)
            return
        current = self._ses.current(name)
        if current is None or current.domain is None:
            logger.info("Set %s or its tracking options are already gone", name)
            return
        if current.domain.lower() != props.custom_redirect_domain.lower():
            logger.warning(
                "Set %s now redirects through %s, not %s: changed outside this stack, left in place",
                name,
                current.domain,
                props.custom_redirect_domain,
            )
            return
        if issued.found is None:
            if not self._ses.delete(name):
                logger.info("Set %s or its tracking options are already gone", name)
            return
        self._give_back(name, issued.found, current)

    def _switch(self, name: str, domain: str, policy: str | None, holder: Holder) -> None:
        """The set's options switched in place from what `holder` declares to `domain` and `policy`, in one call:
        the domain alone while neither declares a policy (SES keeps its default), else both."""
        if policy is None and holder.policy is None:
            if not self._ses.update(name, domain):
                logger.info("Tracking options of %s were removed outside this stack; creating them again", name)
                self._ses.create(name, domain)
            return
        self._ses.put_policy(name, domain, policy or "OPTIONAL")

    def _adopt(self, props: TrackingProps, current: Current | None, previous: Issued | None) -> Issued:
        """Switch a set's options to the requested ones in place, in one call, and say what was found."""
        name = props.configuration_set_name
        if current is None or current.domain is None:
            # Gone since SES said they exist: nothing to adopt, and nothing of ours there either.
            raise _already_exists(name)
        found = Found(current.domain, current.policy)
        adopted = Issued(name, found, previous)
        if parse(adopted.encode()) != adopted:
            # The id would not read back as what was found: it could never be given back.
            msg = (
                f"Configuration set '{name}' has tracking options with CustomRedirectDomain {current.domain!r}, "
                "which cannot be recorded to be given back exactly; left unchanged. Set them to a plain hostname, "
                "or remove them, first"
            )
            raise ProviderError(msg)
        # Omitted, the policy is SES's default: set explicitly, so the adopted policy does not linger.
        self._ses.put_policy(name, props.custom_redirect_domain, props.https_policy or "OPTIONAL")
        logger.info("Set %s: adopted tracking options %s (policy %s)", name, found.domain, found.policy)
        return adopted

    def _give_back(self, name: str, found: Found, current: Current) -> None:
        rejected = self._ses.restore(name, found.domain, found.policy)
        if rejected is None:
            logger.info("Set %s: gave back the options it was adopted with (%s, %s)", name, found.domain, found.policy)
            return
        # A stack's deletion must never be blocked for good: the set keeps working with our options.
        logger.error(
            "Set %s: could not give back the options it was adopted with (domain %s, policy %s), SES rejected "
            "them (%s); left the set with domain %s, policy %s. Restore them by hand once SES accepts them",
            name,
            found.domain,
            found.policy or "SES's default",
            rejected,
            current.domain,
            current.policy or "SES's default",
        )

    def _update_in_place(self, props: TrackingProps, old: TrackingProps | None) -> None:
        name, domain = props.configuration_set_name, props.custom_redirect_domain
        if not self._ses.update(name, domain):
            logger.info("Tracking options of %s were removed outside this stack; creating them again", name)
            if self._create_options(props) is Created.EXISTED:
                raise _already_exists(name)
        if props.https_policy is not None or (old is not None and old.https_policy is not None):
            # Dropping the prop returns the set to SES's default policy.
            self._ses.put_policy(name, domain, props.https_policy or "OPTIONAL")

    def _create_options(self, props: TrackingProps) -> Created:
        """Create the set's options: NEW; OURS_AFTER_LOST_ANSWER when SES refuses them as existing after an attempt
        that may have made them, and the set holds exactly the domain asked for; EXISTED otherwise."""
        name, domain = props.configuration_set_name, props.custom_redirect_domain
        created = self._ses.create(name, domain)
        # Adopting, options found are recorded and given back on delete: never destructive, even if ours.
        if created is not Created.EXISTED_AFTER_RETRY or props.adopt_existing:
            return Created.EXISTED if created is Created.EXISTED_AFTER_RETRY else created
        current = self._ses.current(name)
        if current is None or current.domain is None or current.domain.lower() != domain.lower():
            return Created.EXISTED
        logger.info("Set %s holds the options that an attempt whose answer was lost created", name)
        return Created.OURS_AFTER_LOST_ANSWER

    def _set_policy_of_new_options(self, props: TrackingProps) -> None:
        """Options created a moment ago get their policy, or are removed again if that fails."""
        if props.https_policy is None:
            return
        name = props.configuration_set_name
        try:
            self._ses.put_policy(name, props.custom_redirect_domain, props.https_policy)
        except ProviderError as error:
            try:
                self._ses.delete(name)
            except ProviderError as cleanup:
                logger.error("Could not remove the options just created on %s: %s", name, cleanup)  # noqa: TRY400
                # Answer with their id, so that the rollback's Delete removes them.
                error.physical_id = Issued(name).encode()
            raise
