/**
 * Home Assistant MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery):
 * one retained config message per entity on `<prefix>/<component>/<node_id>/<object_id>/config`,
 * node_id and object_id from [a-zA-Z0-9_-]. Every entity names the same `device` (identifiers,
 * name, manufacturer, model, sw_version, configuration_url), so the box shows as one device;
 * `availability_topic` goes offline with the client's last will. Sensors need `state_topic`,
 * switches and buttons `command_topic` (HA's schemas for sensor.mqtt, switch.mqtt, button.mqtt).
 */

/** The topics hark publishes under `<base>` (mqtt.ts keeps them). */
export function topics(base: string) {
  return {
    availability: `${base}/availability`,
    state: `${base}/state`,
    live: `${base}/live`,
    liveSet: `${base}/live/set`,
    muted: `${base}/muted`,
    mutedSet: `${base}/muted/set`,
    levels: `${base}/levels`,
    listeners: `${base}/listeners`,
    alerts: `${base}/alerts`,
    event: `${base}/event`,
    command: `${base}/command`,
    commandResult: `${base}/command/result`,
    output: (key: string) => `${base}/outputs/${key.replace(/[^A-Za-z0-9_-]+/g, '_')}`,
  };
}

/** An id HA accepts in a discovery topic. */
export function nodeId(name: string): string {
  return `hark_${name.toLowerCase().replace(/[^a-z0-9_-]+/g, '_')}`.slice(0, 64);
}

export interface DiscoveryMessage {
  topic: string;
  payload: Record<string, unknown>;
}

export function discoveryMessages(o: { prefix: string; base: string; name: string; version: string; url: string; commands: boolean }): DiscoveryMessage[] {
  const t = topics(o.base);
  const node = nodeId(o.name);
  const device = { identifiers: [node], name: `hark ${o.name}`, manufacturer: 'hark', model: 'hark audio streamer', sw_version: o.version, configuration_url: o.url };
  const common = { availability_topic: t.availability, payload_available: 'online', payload_not_available: 'offline', device, origin: { name: 'hark', sw_version: o.version } };
  const msgs: DiscoveryMessage[] = [];
  const add = (component: string, object: string, payload: Record<string, unknown>) =>
    msgs.push({ topic: `${o.prefix}/${component}/${node}/${object}/config`, payload: { ...payload, unique_id: `${node}_${object}`, ...common } });
  if (o.commands) {
    add('switch', 'live', { name: 'Live', state_topic: t.live, command_topic: t.liveSet, payload_on: 'ON', payload_off: 'OFF', icon: 'mdi:broadcast' });
    add('switch', 'mute', { name: 'Mute', state_topic: t.muted, command_topic: t.mutedSet, payload_on: 'ON', payload_off: 'OFF', icon: 'mdi:volume-off' });
    add('button', 'mark', { name: 'Mark', command_topic: t.command, payload_press: 'mark', icon: 'mdi:bookmark' });
  } else {
    add('binary_sensor', 'live', { name: 'Live', state_topic: t.live, payload_on: 'ON', payload_off: 'OFF', icon: 'mdi:broadcast' });
  }
  add('sensor', 'state', { name: 'State', state_topic: t.state, icon: 'mdi:radio-tower' });
  add('sensor', 'level', { name: 'Level', state_topic: t.levels, value_template: '{{ value_json.peak_dbfs }}', unit_of_measurement: 'dBFS', state_class: 'measurement', icon: 'mdi:waveform' });
  add('sensor', 'listeners', { name: 'Listeners', state_topic: t.listeners, state_class: 'measurement', icon: 'mdi:account-multiple' });
  add('sensor', 'alerts', { name: 'Alerts', state_topic: t.alerts, value_template: '{{ value_json.count }}', json_attributes_topic: t.alerts, icon: 'mdi:alert' });
  add('binary_sensor', 'problem', { name: 'Problem', state_topic: t.alerts, value_template: "{{ 'ON' if value_json.count > 0 else 'OFF' }}", payload_on: 'ON', payload_off: 'OFF', device_class: 'problem' });
  return msgs;
}
