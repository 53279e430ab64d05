import { Body, Controller, Get, Param, ParseIntPipe, Patch, Post, Query } from '@nestjs/common';

import { Page } from '../../common/pagination';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { CardProductView } from './card-product';
import { CardProductsService } from './card-products.service';
import { CreateCardProductDto, ListCardProductsQuery, UpdateCardProductDto } from './dto/card-product.dto';

/** Operator API: card products, their criteria, shared fields and consent text; every change is a new version. */
@Controller('v1/admin/card-products')
@PlatformRoles('admin')
export class CardProductsController {
  constructor(private readonly products: CardProductsService) {}

  @Post()
  create(@Body() dto: CreateCardProductDto, @Actor() actor: RequestActor): Promise<CardProductView> {
    return this.products.create(dto, actor);
  }

  @Get()
  list(@Query() query: ListCardProductsQuery): Promise<Page<CardProductView>> {
    return this.products.list(query);
  }

  /** Not in API.md's list (an addition): the current version of one product. */
  @Get(':code')
  get(@Param('code') code: string): Promise<CardProductView> {
    return this.products.view(code);
  }

  /** Not in API.md's list (an addition): a pinned version, as offers and referrals refer to it. */
  @Get(':code/versions/:version')
  getVersion(@Param('code') code: string, @Param('version', ParseIntPipe) version: number): Promise<CardProductView> {
    return this.products.view(code, version);
  }

  @Patch(':code')
  update(@Param('code') code: string, @Body() dto: UpdateCardProductDto, @Actor() actor: RequestActor): Promise<CardProductView> {
    return this.products.update(code, dto, actor);
  }
}
