/**
 * The demo partner bank (src/demo/bank-client.ts): jose and Node http only, nothing of the gateway's code, so the
 * end-to-end tests integrate exactly as a bank would. It lives under src/ because `npm run demo` drives it too.
 */
export { type BankClientOptions, type HttpAnswer, PartnerBankClient, type VerifiedReferralFile } from '../../src/demo/bank-client';
