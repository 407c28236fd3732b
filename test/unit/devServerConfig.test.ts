import { devServerConfigDrift, TEMPORAL_DEV_DYNAMIC_CONFIG } from '../../scripts/provision/temporal';

describe('a reused dev server started with other settings', () => {
  it("is said to differ from this sluice's dynamic config, and by what", () => {
    expect(devServerConfigDrift([...TEMPORAL_DEV_DYNAMIC_CONFIG].reverse())).toEqual([]);
    // recorded by an older sluice: nothing recorded, so every value is missing
    expect(devServerConfigDrift(undefined)).toEqual(TEMPORAL_DEV_DYNAMIC_CONFIG.map((v) => `without ${v}`));
    const older = ['system.enableActivityEagerExecution=true', 'history.transferProcessorMaxPollRPS=20'];
    expect(devServerConfigDrift(older)).toEqual([
      'without history.transferProcessorMaxPollRPS=1000',
      'without history.timerProcessorMaxPollRPS=1000',
      'without history.visibilityProcessorMaxPollRPS=1000',
      'with history.transferProcessorMaxPollRPS=20',
    ]);
  });
});
