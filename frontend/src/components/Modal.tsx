// A modal dialog on the native <dialog> element: focus moves in, Escape closes, focus returns.

import { useEffect, useRef, type ReactNode } from 'react';

export interface ModalProps {
  title: string;
  open: boolean;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
  testId?: string;
  /** more classes on the <dialog> (e.g. modal-side: at the right, the page behind it visible) */
  className?: string;
}

export function Modal({ title, open, onClose, children, footer, wide, testId, className }: ModalProps) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      if (typeof dialog.showModal === 'function') dialog.showModal();
      else dialog.setAttribute('open', '');
      // showModal() focuses the first focusable element: the header's ×, so the first key
      // typed went nowhere and a space closed the dialog. The first field is what people want.
      const field = dialog.querySelector<HTMLElement>(
        '.modal-body [autofocus], .modal-body [data-autofocus], .modal-body input:not([type=hidden]):not([disabled]):not([type=checkbox]):not([type=radio]), .modal-body textarea:not([disabled]), .modal-body select:not([disabled])',
      );
      field?.focus();
    } else if (!open && dialog.open) {
      if (typeof dialog.close === 'function') dialog.close();
      else dialog.removeAttribute('open');
    }
  }, [open]);
  if (!open) return null;
  return (
    <dialog
      ref={ref}
      className={`modal${wide ? ' modal-wide' : ''}${className ? ` ${className}` : ''}`}
      aria-labelledby="modal-title"
      data-testid={testId}
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
      onClick={(event) => {
        if (event.target === ref.current) onClose(); // a click on the backdrop
      }}
    >
      <div className="modal-inner">
        <header className="modal-head">
          <h2 id="modal-title">{title}</h2>
          <button type="button" className="icon-btn" aria-label="Close" onClick={onClose}>
            ×
          </button>
        </header>
        <div className="modal-body">{children}</div>
        {footer && <footer className="modal-foot">{footer}</footer>}
      </div>
    </dialog>
  );
}
