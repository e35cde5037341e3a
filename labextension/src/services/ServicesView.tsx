import * as React from 'react';

import { DeployForm } from './DeployForm';
import { ServiceDetail } from './ServiceDetail';
import { ServiceList } from './ServiceList';

/** Which part of the Services view is on screen. */
type ServicesScreen =
  { kind: 'list' } | { kind: 'deploy' } | { kind: 'detail'; id: string };

/**
 * The Services tab: the user's services (status, address, usage), the
 * deploy form and one service's detail, one at a time.
 */
export function ServicesView(): JSX.Element {
  const [screen, setScreen] = React.useState<ServicesScreen>({ kind: 'list' });
  const toList = (): void => setScreen({ kind: 'list' });
  switch (screen.kind) {
    case 'deploy':
      return (
        <DeployForm
          onCancel={toList}
          onDeployed={s => setScreen({ kind: 'detail', id: s.id })}
        />
      );
    case 'detail':
      return (
        <ServiceDetail
          serviceId={screen.id}
          onBack={toList}
          onDeleted={toList}
        />
      );
    default:
      return (
        <ServiceList
          onOpen={id => setScreen({ kind: 'detail', id })}
          onNew={() => setScreen({ kind: 'deploy' })}
        />
      );
  }
}
