import * as React from 'react';

import { FinetuneDetail } from './FinetuneDetail';
import { FinetuneForm } from './FinetuneForm';
import { FinetuneList } from './FinetuneList';

/** Which part of the Fine-tune view is on screen. */
type FinetuneScreen =
  { kind: 'list' } | { kind: 'create' } | { kind: 'detail'; id: string };

/**
 * The Fine-tune tab: the list of the user's fine-tunes, the create form and
 * one fine-tune's detail (live curve, evaluate, export), one at a time.
 */
export function FinetuneView(): JSX.Element {
  const [screen, setScreen] = React.useState<FinetuneScreen>({ kind: 'list' });
  const toList = (): void => setScreen({ kind: 'list' });
  switch (screen.kind) {
    case 'create':
      return (
        <FinetuneForm
          onCancel={toList}
          onCreated={ft => setScreen({ kind: 'detail', id: ft.id })}
        />
      );
    case 'detail':
      return (
        <FinetuneDetail
          finetuneId={screen.id}
          onBack={toList}
          onDeleted={toList}
        />
      );
    default:
      return (
        <FinetuneList
          onOpen={id => setScreen({ kind: 'detail', id })}
          onNew={() => setScreen({ kind: 'create' })}
        />
      );
  }
}
