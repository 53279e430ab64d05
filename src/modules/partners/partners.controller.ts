import { Body, Controller, Get, Param, Patch, Post, Query } from '@nestjs/common';

import { Page } from '../../common/pagination';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { CreatePartnerDto, ListPartnersQuery, UpdatePartnerDto } from './dto/partner.dto';
import { PartnerView } from './partner';
import { PartnersService } from './partners.service';

/** Operator API: onboard partner banks, change their keys, scopes and settings, suspend and reactivate them. */
@Controller('v1/admin/partners')
@PlatformRoles('admin')
export class PartnersController {
  constructor(private readonly partners: PartnersService) {}

  @Post()
  create(@Body() dto: CreatePartnerDto, @Actor() actor: RequestActor): Promise<PartnerView> {
    return this.partners.create(dto, actor);
  }

  @Get()
  list(@Query() query: ListPartnersQuery): Promise<Page<PartnerView>> {
    return this.partners.list(query);
  }

  @Patch(':code')
  update(@Param('code') code: string, @Body() dto: UpdatePartnerDto, @Actor() actor: RequestActor): Promise<PartnerView> {
    return this.partners.update(code, dto, actor);
  }
}
