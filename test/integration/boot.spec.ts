import { startHttpApp, startWorker } from '../support/app';

describe('process roles', () => {
  it('boots the api role and the worker role against the run database and Redis', async () => {
    const api = await startHttpApp('api');
    const worker = await startWorker();
    const res = await api
      .getHttpAdapter()
      .getInstance()
      .inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'abc-123' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers['x-request-id']).toBe('abc-123');
    await worker.close();
    await api.close();
  });
});
