import { keyOf, toPublicId } from '../../common/public-id';

/** Offer states. Only LIVE offers can be applied for; an offer past expires_at is not live whatever its status. */
export const OFFER_STATUSES = ['LIVE', 'CONSUMED', 'WITHDRAWN', 'EXPIRED'] as const;
export type OfferStatus = (typeof OFFER_STATUSES)[number];

/** The opaque public id of an offer (API.md: `ofr_…`); the numeric key stays internal. */
export const offerPublicId = (id: string | number) => toPublicId('ofr', id);

/** The numeric key behind a public id, or undefined for anything this API did not issue (answered as 404). */
export const offerKeyOf = (publicId: string): string | undefined => keyOf('ofr', publicId);

/** An offer as stored, with its product named. */
export interface Offer {
  id: string;
  userId: string;
  productId: string;
  productCode: string;
  productName: string;
  productVersion: number;
  partnerCode: string;
  partnerName: string;
  recordVersion: number;
  runId: string;
  status: OfferStatus;
  expiresAt: Date;
  createdAt: Date;
}

/** What the applicant sees (`GET /v1/me/offers`): no internal keys, no credit data. */
export interface OfferView {
  id: string;
  productCode: string;
  productName: string;
  partner: { code: string; name: string };
  status: OfferStatus;
  createdAt: string;
  expiresAt: string;
}

export const toOfferView = (o: Offer): OfferView => ({
  id: offerPublicId(o.id),
  productCode: o.productCode,
  productName: o.productName,
  partner: { code: o.partnerCode, name: o.partnerName },
  status: o.status,
  createdAt: o.createdAt.toISOString(),
  expiresAt: o.expiresAt.toISOString(),
});
