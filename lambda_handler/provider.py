"""What each CloudFormation request does to SES, decided from the physical id and the properties."""

from __future__ import annotations

import logging

from .errors import ProviderError
from .properties import TrackingProps, owned_set, physical_id
from .ses import SesTracking

__all__ = ["TrackingOptionsProvider"]

logger = logging.getLogger(__name__)


def _already_exists(name: str) -> ProviderError:
    return ProviderError(
        f"Configuration set '{name}' already has tracking options this stack did not create; "
        "left unchanged. Remove them first, or manage them where they were made"
    )


class TrackingOptionsProvider:
    """The physical id records which set's options this resource created; nothing else is ever touched."""

    def __init__(self, ses: SesTracking) -> None:
        self._ses = ses

    def create(self, props: TrackingProps) -> str:
        name = props.configuration_set_name
        if not self._ses.create(name, props.custom_redirect_domain):
            raise _already_exists(name)
        self._set_policy_of_new_options(props)
        return physical_id(name)

    def update(self, physical_resource_id: str, props: TrackingProps, old: TrackingProps | None) -> str:
        name = props.configuration_set_name
        if owned_set(physical_resource_id) == name:
            self._update_in_place(props, old)
            return physical_resource_id
        # Another set: create there and return its id; CloudFormation then deletes the old id's options.
        if not self._ses.create(name, props.custom_redirect_domain):
            current = self._ses.current(name)
            # A rollback moves back to a set whose options this resource made and never deleted.
            if current is not None and props.matches(current.domain, current.policy):
                logger.info("Set %s already holds exactly these options; taking them over", name)
                return physical_id(name)
            raise _already_exists(name)
        self._set_policy_of_new_options(props)
        return physical_id(name)

    def delete(self, physical_resource_id: str, props: TrackingProps | None) -> None:
        name = owned_set(physical_resource_id)
        if name is None:
            # crhelper invents an id after a failed Create, CloudFormation one after a cancelled Create.
            logger.info("Physical id %r was never issued by this provider; nothing to delete", physical_resource_id)
            return
        if props is not None and props.configuration_set_name == name:
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
        if not self._ses.delete(name):
            logger.info("Set %s or its tracking options are already gone", name)

    def _update_in_place(self, props: TrackingProps, old: TrackingProps | None) -> None:
        name, domain = props.configuration_set_name, props.custom_redirect_domain
        if not self._ses.update(name, domain):
            logger.info("Tracking options of %s were removed outside this stack; creating them again", name)
            if not self._ses.create(name, domain):
                raise _already_exists(name)
        if props.https_policy is not None or (old is not None and old.https_policy is not None):
            # Dropping the prop returns the set to SES's default policy.
            self._ses.put_policy(name, domain, props.https_policy or "OPTIONAL")

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
            except ProviderError:
                logger.exception("Could not remove the options just created on %s", name)
                # Answer with their id, so that the rollback's Delete removes them.
                error.physical_id = physical_id(name)
            raise
