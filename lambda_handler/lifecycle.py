"""What each CloudFormation request does to SES, decided from the physical id and the properties. Decisions only:
the calls go through SesTracking, which answers those an operation made before from its journal."""

from __future__ import annotations

import logging

from .errors import ProviderError
from .physical_ids import Found, Issued, parse
from .properties import TrackingProps
from .ses import Created, Current, SesTracking

__all__ = ["Lifecycle"]

logger = logging.getLogger(__name__)


def _already_exists(name: str) -> ProviderError:
    return ProviderError(
        f"Configuration set '{name}' already has tracking options this stack did not create; left unchanged. "
        "Set adopt_existing=True to take them over (given back on delete), or remove them first"
    )


class Lifecycle:
    """The physical id records which set's options this resource manages, and what it adopted there;
    nothing else is ever touched."""

    def __init__(self, ses: SesTracking) -> None:
        self._ses = ses

    def create(self, props: TrackingProps) -> str:
        name = props.configuration_set_name
        if self._create_options(props) in {Created.NEW, Created.OURS_AFTER_LOST_ANSWER}:
            self._set_policy_of_new_options(props)
            return Issued(name).encode()
        if not props.adopt_existing:
            raise _already_exists(name)
        return self._adopt(props, self._ses.current(name), previous=None).encode()

    def update(self, physical_resource_id: str, props: TrackingProps, old: TrackingProps | None) -> str:
        name = props.configuration_set_name
        issued = parse(physical_resource_id)
        if issued is not None and issued.set_name == name:
            self._update_in_place(props, old)
            return physical_resource_id
        # Another set: take it and return its id; CloudFormation then deletes the old id, giving that set
        # back what was adopted there. The new id remembers an adopted old set, for a rollback of this move.
        previous = issued.without_previous() if issued is not None and issued.found is not None else None
        moving_back = issued is not None and issued.previous is not None and issued.previous.set_name == name
        # A Create whose answer was lost is recognised as on a Create, except when moving back to options this
        # resource adopted there (decided below, from what the set holds).
        created = self._ses.create(name, props.custom_redirect_domain) if moving_back else self._create_options(props)
        if created in {Created.NEW, Created.OURS_AFTER_LOST_ANSWER}:
            self._set_policy_of_new_options(props)
            return Issued(name, previous=previous).encode()
        current = self._ses.current(name)
        if current is not None and props.matches(current.domain, current.policy):
            # A rollback moves back to a set whose options this resource made (or adopted) and never gave up.
            if issued is not None and issued.previous is not None and issued.previous.set_name == name:
                logger.info("Set %s still holds this resource's options; moving back to what it adopted", name)
                return issued.previous.encode()
            if not props.adopt_existing:
                logger.info("Set %s already holds exactly these options; taking them over", name)
                return Issued(name, previous=previous).encode()
        if not props.adopt_existing:
            raise _already_exists(name)
        return self._adopt(props, current, previous).encode()

    def delete(self, physical_resource_id: str, props: TrackingProps | None) -> None:
        issued = parse(physical_resource_id)
        if issued is None:
            # crhelper invents an id after a failed Create, CloudFormation one after a cancelled Create.
            logger.info("Physical id %r was never issued by this provider; nothing to delete", physical_resource_id)
            return
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

    def _adopt(self, props: TrackingProps, current: Current | None, previous: Issued | None) -> Issued:
        """Switch a set's options to the requested ones in place, in one call, and say what was found."""
        name = props.configuration_set_name
        if current is None or current.domain is None:
            # Gone since SES said they exist: nothing to adopt, and nothing of ours there either.
            raise _already_exists(name)
        # Omitted, the policy is SES's default: set explicitly, so the adopted policy does not linger.
        self._ses.put_policy(name, props.custom_redirect_domain, props.https_policy or "OPTIONAL")
        found = Found(current.domain, current.policy)
        logger.info("Set %s: adopted tracking options %s (policy %s)", name, found.domain, found.policy)
        return Issued(name, found, previous)

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
