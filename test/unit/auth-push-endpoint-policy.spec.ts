import { AppConfigService } from '../../src/infra/config/app-config';
import { isForbiddenAddress, PushEndpointPolicy } from '../../src/modules/partners/push-endpoint.policy';

const policy = (allowPrivatePushEndpoints: boolean) =>
  new PushEndpointPolicy({ values: { partners: { allowPrivatePushEndpoints } } } as unknown as AppConfigService);

describe('push endpoint SSRF policy', () => {
  it.each([
    '0.0.0.0',
    '10.0.0.1',
    '100.64.0.1',
    '100.127.255.254',
    '127.0.0.1',
    '127.255.255.255',
    '169.254.169.254',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.0.1',
    '224.0.0.1',
    '239.255.255.250',
    '255.255.255.255',
    '198.18.0.1',
    '192.0.2.1',
    '::',
    '::1',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '::ffff:10.0.0.1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '64:ff9b::7f00:1',
    '64:ff9b:1::a00:1', // local-use NAT64 (RFC 8215): whatever IPv4 it carries, it is a local network
    '64:ff9b:1:ffff:ffff::808:808',
    '2002:7f00:1::1',
    '2001:db8::1',
    'not-an-ip',
  ])('refuses %s', (address) => {
    expect(isForbiddenAddress(address)).toBe(true);
  });

  it.each(['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows %s', (address) => {
    expect(isForbiddenAddress(address)).toBe(false);
  });

  it('checks every address a name resolves to', async () => {
    await expect(policy(false).assertAllowed('https://localhost/events')).rejects.toMatchObject({ status: 400 });
  });

  it('lets development use a local plain-http receiver, but still only http(s)', async () => {
    await expect(policy(true).assertAllowed('http://127.0.0.1:4000/events')).resolves.toBe('http://127.0.0.1:4000/events');
    await expect(policy(true).assertAllowed('ftp://127.0.0.1/events')).rejects.toMatchObject({ status: 400 });
  });
});
