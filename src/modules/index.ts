import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { CardProductsModule } from './card-products/card-products.module';
import { CreditRecordsModule } from './credit-records/credit-records.module';
import { PartnersModule } from './partners/partners.module';
import { SigningModule } from './signing/signing.module';
/** The business capability modules, each owning its entities, services, controllers and jobs. */
export const BUSINESS_MODULES = [AuditModule, SigningModule, CreditRecordsModule, PartnersModule, AuthModule, CardProductsModule];
