import { Injectable } from '@nestjs/common';

import { decodeCursor, Page, PageQuery, toPage } from '../../common/pagination';
import { OfferView, toOfferView } from './offer';
import { OffersRepository } from './offers.repository';

/** The applicant's view of their pre-screened offers. */
@Injectable()
export class OffersService {
  constructor(private readonly offers: OffersRepository) {}

  /** LIVE, unexpired offers of the user, in creation order. */
  async listLive(userId: string, query: PageQuery): Promise<Page<OfferView>> {
    const rows = await this.offers.pageLiveOfUser(userId, decodeCursor(query.cursor), query.limit);
    return toPage(rows, query.limit, (o) => o.id, toOfferView);
  }
}
