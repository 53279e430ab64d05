import { ApplicationsModule } from './applications/applications.module';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { CardProductsModule } from './card-products/card-products.module';
import { ComplianceModule } from './compliance/compliance.module';
import { CreditRecordsModule } from './credit-records/credit-records.module';
import { DecisionsModule } from './decisions/decisions.module';
import { DelinquenciesModule } from './delinquencies/delinquencies.module';
import { DisclosuresModule } from './disclosures/disclosures.module';
import { EventsModule } from './events/events.module';
import { OffersModule } from './offers/offers.module';
import { OverdueModule } from './overdue/overdue.module';
import { PartnersModule } from './partners/partners.module';
import { PrescreeningModule } from './prescreening/prescreening.module';
import { ReferralsModule } from './referrals/referrals.module';
import { SigningModule } from './signing/signing.module';
import { SlaModule } from './sla/sla.module';
import { StatisticsModule } from './statistics/statistics.module';
/** The business capability modules, each owning its entities, services, controllers and jobs. */
export const BUSINESS_MODULES = [
  AuditModule,
  SigningModule,
  CreditRecordsModule,
  PartnersModule,
  AuthModule,
  CardProductsModule,
  OffersModule,
  PrescreeningModule,
  DisclosuresModule,
  ReferralsModule,
  DecisionsModule,
  DelinquenciesModule,
  ApplicationsModule,
  EventsModule,
  SlaModule,
  StatisticsModule,
  OverdueModule,
  ComplianceModule,
];
