import './base.css';
import './finetune.css';
import './services.css';
