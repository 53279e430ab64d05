import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { Page, PageQuery } from '../../common/pagination';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { ApplicationDetailView, ApplicationView } from './application';
import { ApplicationsService } from './applications.service';
import { CreateApplicationDto } from './dto/applications.dto';

/** Applicant API: applications (referrals) of the signed-in platform user; another user's answer 404. */
@ApiTags('applicant')
@ApiBearerAuth()
@Controller('v1/me/applications')
@PlatformRoles('user')
export class MeApplicationsController {
  constructor(private readonly applications: ApplicationsService) {}

  @Post()
  @ApiOperation({ summary: 'Consent and apply for an offer; 201 with the referral' })
  apply(@Body() body: CreateApplicationDto, @Actor() actor: RequestActor): Promise<ApplicationView> {
    return this.applications.apply(body, actor);
  }

  @Get()
  @ApiOperation({ summary: "The user's applications, in creation order" })
  list(@Query() query: PageQuery, @Actor() actor: RequestActor): Promise<Page<ApplicationView>> {
    return this.applications.list(actor, query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One application with its status timeline and decision' })
  view(@Param('id') id: string, @Actor() actor: RequestActor): Promise<ApplicationDetailView> {
    return this.applications.view(id, actor);
  }

  @Post(':id/withdraw')
  @HttpCode(200)
  @ApiOperation({ summary: 'Withdraw before a final decision (409 after)' })
  withdraw(@Param('id') id: string, @Actor() actor: RequestActor): Promise<ApplicationDetailView> {
    return this.applications.withdraw(id, actor);
  }
}
