import { Injectable, OnModuleInit } from '@nestjs/common';

import { MetricsService } from '../../infra/metrics/metrics.service';
import { PartnerEventsRepository } from './partner-events.repository';
import { CircuitState, PushLanes } from './push-lanes';

const STATE_VALUE: Record<CircuitState, number> = { closed: 0, open: 1, half_open: 2 };

/** Publishes each pushing partner's circuit and lane at scrape time: the state lives in Redis, shared by all workers. */
@Injectable()
export class PushLaneMetrics implements OnModuleInit {
  constructor(
    private readonly metrics: MetricsService,
    private readonly events: PartnerEventsRepository,
    private readonly lanes: PushLanes,
  ) {}

  onModuleInit() {
    this.metrics.onScrape(async () => {
      const partners = await this.events.pushingPartners();
      const states = await Promise.all(partners.map((p) => this.lanes.state(p.id)));
      // Reset first: a partner whose endpoint was removed leaves the series.
      this.metrics.pushCircuitState.reset();
      this.metrics.pushLaneInFlight.reset();
      partners.forEach((p, i) => {
        this.metrics.pushCircuitState.set({ partner: p.code }, STATE_VALUE[states[i].circuit.state]);
        this.metrics.pushLaneInFlight.set({ partner: p.code }, states[i].inFlight);
      });
    });
  }
}
