"""Reference records: the teams (and drivers, constructors) each provider lists on its own
teams/participants/competitors endpoint, one record per provider team.

They travel on `reference.teams` (compacted, keyed by `entity_key`: provider, sport and the
provider's team id), so the topic always holds every provider's latest list. The worker builds its
team registry from them (`agents/stages/teams.py`): which provider team ids are one canonical team,
and that team's display name, short name and abbreviation.

Each provider module in `schemas/providers/` registers a pure parser of its reference response
with `@reference("provider")`; `parse_reference` runs it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.canonical import SCHEMA_VERSION, CanonicalModel, Sport, UtcDateTime


class TeamReference(CanonicalModel):
    type: Literal["team_reference"] = "team_reference"
    schema_version: int = SCHEMA_VERSION
    provider: str
    sport: Sport
    kind: Literal["team", "driver"] = Field("team", description="A team (club, constructor) or a driver.")
    team_id: str = Field(min_length=1, description="The provider's own id of the team.")
    name: str = Field(min_length=1, description="The provider's full name of the team.")
    short_name: str | None = None
    abbreviation: str | None = Field(None, description="The provider's code ('TOT', 'BOS').")
    competition: str | None = Field(None, description="The competition whose list named it, if the provider says.")
    fetched_at: UtcDateTime | None = Field(None, description="When the provider's list was received.")

    @property
    def entity_key(self) -> str:
        return f"{self.provider}|{self.sport}|{self.team_id}"
