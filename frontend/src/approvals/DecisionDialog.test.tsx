import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/client';
import { approvalFixture } from '../test/fixtures';
import { DecisionDialog } from './DecisionDialog';
import { dataText, decisionProblem, isJsonData, outputChanged, parseEditedOutput, quorumText } from './decision';

describe('decision logic', () => {
  it('edits JSON data as JSON and text as text', () => {
    expect(isJsonData({ a: 1 })).toBe(true);
    expect(isJsonData(null)).toBe(true);
    expect(isJsonData('a draft')).toBe(false);
    expect(dataText({ a: 1 })).toBe('{\n  "a": 1\n}');
    expect(parseEditedOutput('{"a": 2}', true)).toEqual({ ok: true, value: { a: 2 } });
    expect(parseEditedOutput('{"a": ', true).ok).toBe(false);
    expect(parseEditedOutput('  ', true).ok).toBe(false);
    expect(parseEditedOutput('{not json', false)).toEqual({ ok: true, value: '{not json' });
  });

  it('sends an edit only when it changed something', () => {
    expect(outputChanged({ a: 1 }, parseEditedOutput('{\n"a":1}', true))).toBe(false);
    expect(outputChanged({ a: 1 }, parseEditedOutput('{"a":2}', true))).toBe(true);
    expect(outputChanged('x', parseEditedOutput('x', false))).toBe(false);
  });

  it('explains 409 and 403', () => {
    const conflict = decisionProblem(new ApiError(409, { code: 'already_decided', message: 'bob rejected it.' }));
    expect(conflict).toEqual({ title: 'Someone already decided', message: 'bob rejected it.', final: true });
    const bare = decisionProblem(new ApiError(409, { code: 'http_409', message: 'The server answered 409 Conflict.' }));
    expect(bare.title).toBe('Someone already decided');
    expect(bare.message).toMatch(/decided before/);
    const forbidden = decisionProblem(new ApiError(403, { code: 'permission_denied', message: 'Only alice may decide.' }));
    expect(forbidden).toMatchObject({ title: 'You may not decide this approval', final: true });
    const network = decisionProblem(new ApiError(0, { code: 'network', message: 'Cannot reach the server.' }));
    expect(network.final).toBe(false);
  });

  it('shows quorum progress', () => {
    expect(quorumText({ approvals: 1, quorum: 2 })).toBe('1 of 2');
    expect(quorumText({ approvals: 0, quorum: 0 })).toBe('0 of 1');
  });
});

describe('DecisionDialog', () => {
  function setup(overrides = {}, decide = vi.fn()) {
    const approval = approvalFixture(overrides);
    const onDecided = vi.fn();
    const onRefresh = vi.fn();
    render(<DecisionDialog open approval={approval} onClose={() => undefined} onDecided={onDecided} onRefresh={onRefresh} decide={decide} />);
    return { approval, onDecided, onRefresh, decide };
  }

  it('shows the prompt, the data, the decisions so far and the quorum', () => {
    setup({ editable: false });
    expect(screen.getByTestId('decision-prompt').textContent).toBe('Publish this draft?');
    expect(screen.getByTestId('decision-data').textContent).toContain('"title": "Bees"');
    expect(screen.getByTestId('decision-quorum').textContent).toBe('1 of 2');
    expect(screen.getByTestId('decision-decisions').textContent).toContain('alice approved');
    expect(screen.getByTestId('decision-decisions').textContent).toContain('fine by me');
    expect(screen.queryByTestId('decision-output')).toBeNull();
  });

  it('validates edited JSON before approving, and sends the edit and the comment', async () => {
    const decide = vi.fn().mockResolvedValue(approvalFixture({ status: 'approved', approvals: 2 }));
    const { onDecided } = setup({}, decide);
    const output = screen.getByTestId('decision-output') as HTMLTextAreaElement;
    fireEvent.change(output, { target: { value: '{"title": ' } });
    expect(screen.getByTestId('decision-output-error').textContent).toMatch(/Not valid JSON/);
    expect((screen.getByTestId('approve') as HTMLButtonElement).disabled).toBe(true);
    // rejecting does not need the edit
    expect((screen.getByTestId('reject') as HTMLButtonElement).disabled).toBe(false);

    fireEvent.change(output, { target: { value: '{"title": "Wasps"}' } });
    expect(screen.queryByTestId('decision-output-error')).toBeNull();
    fireEvent.change(screen.getByTestId('decision-comment'), { target: { value: ' retitled ' } });
    fireEvent.click(screen.getByTestId('approve'));
    await waitFor(() => expect(onDecided).toHaveBeenCalled());
    expect(decide).toHaveBeenCalledWith('ap-1', { decision: 'approve', comment: 'retitled', output: { title: 'Wasps' } });
  });

  it('does not send unchanged data, nor data with a rejection', async () => {
    const decide = vi.fn().mockResolvedValue(approvalFixture({ status: 'rejected' }));
    setup({}, decide);
    fireEvent.change(screen.getByTestId('decision-output'), { target: { value: '{"x": 1}' } });
    fireEvent.click(screen.getByTestId('reject'));
    await waitFor(() => expect(decide).toHaveBeenCalledWith('ap-1', { decision: 'reject' }));
  });

  it('says clearly when someone already decided (409) and stops offering the buttons', async () => {
    const decide = vi.fn().mockRejectedValue(new ApiError(409, { code: 'already_decided', message: 'bob rejected it first.' }));
    const { onDecided, onRefresh } = setup({}, decide);
    fireEvent.click(screen.getByTestId('approve'));
    const error = await screen.findByTestId('decision-error');
    expect(error.textContent).toContain('Someone already decided');
    expect(error.textContent).toContain('bob rejected it first.');
    expect(onDecided).not.toHaveBeenCalled();
    expect(onRefresh).toHaveBeenCalled();
    expect((screen.getByTestId('approve') as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByTestId('reject') as HTMLButtonElement).disabled).toBe(true);
  });

  it('says clearly when I may not decide (403)', async () => {
    const decide = vi.fn().mockRejectedValue(new ApiError(403, { code: 'permission_denied', message: 'Only the finance role may decide.' }));
    setup({}, decide);
    fireEvent.click(screen.getByTestId('reject'));
    const error = await screen.findByTestId('decision-error');
    expect(error.textContent).toContain('You may not decide this approval');
    expect(error.textContent).toContain('Only the finance role may decide.');
  });

  it('keeps the buttons for a network failure, to try again', async () => {
    const decide = vi.fn().mockRejectedValue(new ApiError(0, { code: 'network', message: 'Cannot reach the server.' }));
    setup({}, decide);
    fireEvent.click(screen.getByTestId('approve'));
    await screen.findByTestId('decision-error');
    expect((screen.getByTestId('approve') as HTMLButtonElement).disabled).toBe(false);
  });

  it('edits text data as text', () => {
    setup({ data: 'Dear all, bees dance.' });
    const output = screen.getByTestId('decision-output') as HTMLTextAreaElement;
    expect(output.value).toBe('Dear all, bees dance.');
    fireEvent.change(output, { target: { value: '{ not json, fine' } });
    expect(screen.queryByTestId('decision-output-error')).toBeNull();
  });

  it('shows a decided approval without buttons to decide', () => {
    setup({ status: 'approved', can_decide: false, decided_at: '2026-11-24T10:05:00Z' });
    expect(screen.getByTestId('decision-status').textContent).toMatch(/Approved/);
    expect(screen.queryByTestId('approve')).toBeNull();
    expect(screen.queryByTestId('decision-comment')).toBeNull();
  });
});
