import { Body, Controller, Get, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { Actor, RequestActor } from '../auth/actor.decorator';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { UpdatePreferencesDto } from './dto/prescreening.dto';
import { PreferencesView, UserPreferencesService } from './user-preferences.service';

/** Applicant API: the signed-in user's pre-screen preference (sub = platform user id). */
@ApiTags('applicant')
@ApiBearerAuth()
@Controller('v1/me/preferences')
@PlatformRoles('user')
export class MePreferencesController {
  constructor(private readonly preferences: UserPreferencesService) {}

  /** Not in API.md's list (an addition): the current preference. */
  @Get()
  get(@Actor() actor: RequestActor): Promise<PreferencesView> {
    return this.preferences.get(actor.principal.id);
  }

  @Put()
  @ApiOperation({ summary: 'Opt out of (or back into) pre-screened offers; opting out withdraws live offers' })
  put(@Body() dto: UpdatePreferencesDto, @Actor() actor: RequestActor): Promise<PreferencesView & { offersWithdrawn: number }> {
    return this.preferences.set(actor, dto.prescreenOptOut);
  }
}
