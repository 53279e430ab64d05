import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { Actor, RequestActor } from '../auth/actor.decorator';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { StartPrescreenRunDto } from './dto/prescreening.dto';
import { PrescreenRunView } from './prescreen-run';
import { PrescreenRunsService } from './prescreen-runs.service';

/** Operator API: start a pre-screen run of a card product (background work, 202) and follow it. */
@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin')
@PlatformRoles('admin')
export class PrescreenRunsController {
  constructor(private readonly runs: PrescreenRunsService) {}

  @Post('card-products/:code/prescreen-runs')
  @HttpCode(202)
  @ApiOperation({ summary: "Start a pre-screen run over every current credit record, pinned to the product's current version" })
  @ApiAcceptedResponse({ schema: { type: 'object', properties: { id: { type: 'string', example: 'run_12vzy772jplrd6bv4rvmy3js63i' } } } })
  start(@Param('code') code: string, @Body() dto: StartPrescreenRunDto, @Actor() actor: RequestActor): Promise<{ id: string }> {
    return this.runs.start(
      code,
      { actorType: actor.principal.type, actorId: actor.principal.id, requestId: actor.requestId, clientIp: actor.clientIp },
      dto.chunkSize,
    );
  }

  @Get('prescreen-runs/:id')
  @ApiOperation({ summary: 'Status, progress, counts by outcome and by reason of a pre-screen run' })
  get(@Param('id') id: string): Promise<PrescreenRunView> {
    return this.runs.view(id);
  }
}
